/**
 * The metrics seam.
 *
 * Components register their metrics on an injected prom-client `Registry`,
 * never on prom-client's global registry, so several instances (two SIP
 * stacks in one test, tenants in one process) never collide and an
 * integrator decides what is exposed. {@link Metrics} wraps the registry:
 * asking twice for the same metric name returns the same metric, so many
 * instances of a component share their counters.
 *
 * @module
 */

import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
  type Metric,
} from 'prom-client';

/**
 * prom-client's metric and registry types, re-exported so that packages using
 * the metrics seam depend on `@voxmesh/core` only.
 */
export type { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Options of the {@link Metrics} constructor. */
export interface MetricsOptions {
  /**
   * The registry metrics are registered on.
   * @defaultValue a new, private `Registry`
   */
  registry?: Registry | undefined;
  /**
   * Prepended to every metric name.
   * @defaultValue `'voxmesh_'`
   */
  prefix?: string | undefined;
}

/** A prom-client metric configuration without `registers` (the registry is injected). */
export type MetricConfig<T extends string, C> = Omit<C, 'registers' | 'name'> & { name: string } & {
  labelNames?: readonly T[];
};

/**
 * Creates (or returns the existing) counters, gauges and histograms on one
 * registry, with a common name prefix.
 *
 * @example
 * ```ts
 * const metrics = new Metrics({ registry });
 * const calls = metrics.counter({ name: 'calls_total', help: 'Calls', labelNames: ['tenant'] });
 * calls.inc({ tenant: 'demo.local' });
 * const text = await metrics.registry.metrics(); // Prometheus exposition
 * ```
 */
export class Metrics {
  /** The registry every metric is registered on. */
  readonly registry: Registry;
  /** The prefix of every metric name. */
  readonly prefix: string;

  constructor(options: MetricsOptions = {}) {
    this.registry = options.registry ?? new Registry();
    this.prefix = options.prefix ?? 'voxmesh_';
  }

  /** A counter named `prefix + name`. */
  counter<T extends string = string>(config: MetricConfig<T, CounterConfiguration<T>>): Counter<T> {
    return this.#get(
      config.name,
      Counter,
      (name) => new Counter<T>({ ...config, name, registers: [this.registry] }),
    );
  }

  /** A gauge named `prefix + name`. */
  gauge<T extends string = string>(config: MetricConfig<T, GaugeConfiguration<T>>): Gauge<T> {
    return this.#get(
      config.name,
      Gauge,
      (name) => new Gauge<T>({ ...config, name, registers: [this.registry] }),
    );
  }

  /** A histogram named `prefix + name`. */
  histogram<T extends string = string>(
    config: MetricConfig<T, HistogramConfiguration<T>>,
  ): Histogram<T> {
    return this.#get(
      config.name,
      Histogram,
      (name) => new Histogram<T>({ ...config, name, registers: [this.registry] }),
    );
  }

  #get<M extends Metric>(
    shortName: string,
    kind: abstract new (...args: never[]) => M,
    create: (name: string) => M,
  ): M {
    const name = this.prefix + shortName;
    const existing = this.registry.getSingleMetric(name);
    if (existing === undefined) return create(name);
    if (!(existing instanceof kind)) {
      throw new TypeError(`Metric '${name}' is already registered as a different kind`);
    }
    return existing;
  }
}
