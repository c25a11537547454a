import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { FrameDecoder } from '../../shared/frame';

/** A raw TCP connection to a node that collects the frames it gets, for tests that must control the bytes sent. */
export interface RawFrames {
  socket: net.Socket;
  frames: unknown[][];
  /** Resolves with performance.now() when the connection closes. */
  closed: Promise<number>;
}

/** Connects to `port` on 127.0.0.1 (no handshake: the bytes are the test's). */
export async function rawFrames(port: number): Promise<RawFrames> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const frames: unknown[][] = [];
  const decoder = new FrameDecoder((m) => void frames.push(m));
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now())));
  return { socket, frames, closed };
}
