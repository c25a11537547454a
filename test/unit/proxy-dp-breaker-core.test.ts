import { BreakerCore } from '../../proxy/upstream/breaker-core';

describe('BreakerCore', () => {
  const rules = { errorThresholdPercentage: 50, resetTimeoutMs: 100, volumeThreshold: 4, rollingCountTimeoutMs: 1000 };
  function make(): { core: BreakerCore; clock: { t: number } } {
    const clock = { t: 0 };
    return { core: new BreakerCore(rules, () => clock.t), clock };
  }
  const fire = (core: BreakerCore, ok: boolean) => {
    core.fired();
    return ok ? core.succeeded() : core.failed();
  };

  it('stays closed below the volume threshold, opens above the failure percentage', () => {
    const { core } = make();
    expect(fire(core, false)).toBeUndefined();
    expect(fire(core, false)).toBeUndefined();
    expect(fire(core, false)).toBeUndefined();
    expect(core.state).toBe('closed');
    expect(fire(core, false)).toBe('open');
    expect(core.permits).toBe(false);
  });

  it('does not open at or under the percentage', () => {
    const { core } = make();
    for (let i = 0; i < 4; i++) fire(core, i % 2 === 0);
    expect(core.state).toBe('closed');
  });

  it('half-open lets one probe through; its answer closes and clears the window', () => {
    const { core, clock } = make();
    for (let i = 0; i < 4; i++) fire(core, false);
    clock.t = core.openedUntil;
    expect(core.toHalfOpen()).toBe('halfOpen');
    expect(core.permits).toBe(true);
    core.fired();
    expect(core.permits).toBe(false);
    expect(core.succeeded()).toBe('closed');
    expect(core.stats).toEqual({ fires: 0, failures: 0 });
  });

  it('a failed probe opens again', () => {
    const { core, clock } = make();
    for (let i = 0; i < 4; i++) fire(core, false);
    clock.t = core.openedUntil;
    core.toHalfOpen();
    expect(fire(core, false)).toBe('open');
    expect(core.openedUntil).toBe(clock.t + rules.resetTimeoutMs);
  });

  it('forgets requests older than the rolling window', () => {
    const { core, clock } = make();
    for (let i = 0; i < 3; i++) fire(core, false);
    clock.t = 1500;
    expect(core.stats).toEqual({ fires: 0, failures: 0 });
    expect(fire(core, false)).toBeUndefined();
    expect(core.state).toBe('closed');
  });
});
