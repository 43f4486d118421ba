/**
 * The metrics history components register.
 *
 * @module
 */

import type { Metrics } from '@voxmesh/core';

interface Counter<T extends string = never> {
  inc(labels: Partial<Record<T, string>>, value?: number): void;
  inc(value?: number): void;
}

interface Gauge {
  set(value: number): void;
}

/** The counters of a history store. @internal */
export class HistoryMetrics {
  readonly written: Counter<'backend' | 'kind'>;
  readonly duplicates: Counter<'backend' | 'kind'>;
  readonly purged: Counter<'backend'>;

  constructor(metrics: Metrics, _backend: string) {
    this.written = metrics.counter({
      name: 'history_records_written_total',
      help: 'History records newly stored, by backend and kind',
      labelNames: ['backend', 'kind'],
    });
    this.duplicates = metrics.counter({
      name: 'history_records_duplicate_total',
      help: 'History records skipped because their id was already stored',
      labelNames: ['backend', 'kind'],
    });
    this.purged = metrics.counter({
      name: 'history_records_purged_total',
      help: 'History records deleted because their retention expired',
      labelNames: ['backend'],
    });
  }
}

/** The metrics of an outbox. @internal */
export class OutboxMetrics {
  readonly pending: Gauge;
  readonly delivered: Counter<'kind'>;
  readonly failures: Counter;
  readonly deadLetters: Counter;

  constructor(metrics: Metrics) {
    this.pending = metrics.gauge({
      name: 'history_outbox_pending',
      help: 'Records waiting in the history outbox',
    });
    this.delivered = metrics.counter({
      name: 'history_outbox_delivered_total',
      help: 'Records the history backend acknowledged',
      labelNames: ['kind'],
    });
    this.failures = metrics.counter({
      name: 'history_outbox_delivery_failures_total',
      help: 'Failed delivery attempts of an outbox batch',
    });
    this.deadLetters = metrics.counter({
      name: 'history_outbox_dead_letters_total',
      help: 'Outbox records the backend rejected for good',
    });
  }
}
