import { InvalidArgumentError } from 'commander';
import { parseHostPort } from '../shared/config';
import { CLUSTER_NAME } from '../shared/topology/schema';

/** Flag parsers of the control plane's programs (shardctl and the service); each throws commander's InvalidArgumentError. */

/** `host:port[,host:port...]`, each part checked. */
export function parseEndpoints(text: string): string {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => p === '')) throw new InvalidArgumentError('expected host:port[,host:port...], for example 127.0.0.1:2379');
  return parts.map(parseHostPort).join(',');
}

/** A cluster name as the etcd key layout accepts it. */
export function parseClusterName(text: string): string {
  if (!CLUSTER_NAME.test(text)) throw new InvalidArgumentError('expected 1-64 letters, digits, "_", "-" or "."');
  return text;
}

/** A number (not necessarily whole) within [min, max]. */
export function numberIn(min: number, max: number): (text: string) => number {
  return (text: string) => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max) throw new InvalidArgumentError(`expected a number from ${min} to ${max}`);
    return value;
  };
}

/** An absolute http(s) URL. */
export function parseUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new InvalidArgumentError('expected an absolute URL such as http://origin.internal:8080/items');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('expected an http:// or https:// URL');
  return text;
}
