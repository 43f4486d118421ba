// An in-memory stand-in for the parts of the MongoDB driver's Db/Collection
// API that MongoHistoryStore uses, executing filters, sorts and aggregation
// pipelines with mingo (MongoDB query semantics in JS). It lets the
// conformance suite run against the MongoDB backend's real query and
// pipeline code where no MongoDB server can run. mingo truncates hours in
// UTC whatever the time zone, unlike MongoDB; $dateTrunc is therefore
// evaluated with the time-zone semantics MongoDB documents (local hour and
// day boundaries) by a stand-in operator.
import { Context, aggregate, find } from 'mingo';
import type { AnyObject } from 'mingo/types';
import { ZoneBuckets } from '../src/time-zone.js';

type Doc = AnyObject & { _id: unknown };

const zones = new Map<string, ZoneBuckets>();

const zonedDateTrunc = (obj: AnyObject, expr: unknown) => {
  const spec = expr as { date: string; unit: 'hour' | 'day'; timezone?: string };
  const field = spec.date.slice(1);
  const date = obj[field];
  if (!(date instanceof Date)) return null;
  const timeZone = spec.timezone ?? 'UTC';
  let zone = zones.get(timeZone);
  if (zone === undefined) {
    zone = new ZoneBuckets(timeZone);
    zones.set(timeZone, zone);
  }
  return new Date(zone.bucketStart(date.getTime(), spec.unit));
};

const context = Context.init().addExpressionOps({
  $zonedDateTrunc: zonedDateTrunc,
} as unknown as Parameters<Context['addExpressionOps']>[0]);

const options = { context };

function withZonedDateTrunc(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withZonedDateTrunc);
  if (value === null || typeof value !== 'object' || value instanceof Date) return value;
  return Object.fromEntries(
    Object.entries(value).map(([k, v]) => [
      k === '$dateTrunc' ? '$zonedDateTrunc' : k,
      withZonedDateTrunc(v),
    ]),
  );
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

class MingoCursor {
  #sort: AnyObject | undefined;
  #limit: number | undefined;
  constructor(private readonly run: (sort?: AnyObject, limit?: number) => Doc[]) {}
  sort(spec: AnyObject): this {
    this.#sort = spec;
    return this;
  }
  limit(n: number): this {
    this.#limit = n;
    return this;
  }
  toArray(): Promise<Doc[]> {
    try {
      return Promise.resolve(this.run(this.#sort, this.#limit).map(clone));
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

export class MingoCollection {
  readonly docs = new Map<string, Doc>();
  constructor(readonly collectionName: string) {}

  #all(): Doc[] {
    return [...this.docs.values()];
  }

  #matching(filter: AnyObject): Doc[] {
    return find(this.#all(), filter, {}, options).all() as Doc[];
  }

  createIndexes(specs: unknown[]): Promise<string[]> {
    return Promise.resolve(specs.map((_, i) => `index_${i}`));
  }

  bulkWrite(ops: { insertOne: { document: Doc } }[]): Promise<{ insertedCount: number }> {
    const writeErrors: { code: number; index: number; errmsg: string }[] = [];
    let insertedCount = 0;
    ops.forEach((op, index) => {
      const key = JSON.stringify(op.insertOne.document._id);
      if (this.docs.has(key)) {
        writeErrors.push({ code: 11000, index, errmsg: `E11000 duplicate key error ${key}` });
      } else {
        this.docs.set(key, clone(op.insertOne.document));
        insertedCount++;
      }
    });
    if (writeErrors.length > 0) {
      return Promise.reject(
        Object.assign(new Error('E11000 duplicate key error'), {
          name: 'MongoBulkWriteError',
          writeErrors,
          insertedCount,
        }),
      );
    }
    return Promise.resolve({ insertedCount });
  }

  find(filter: AnyObject): MingoCursor {
    return new MingoCursor((sort, limit) => {
      let cursor = find(this.#all(), filter, {}, options);
      if (sort) cursor = cursor.sort(sort);
      if (limit !== undefined) cursor = cursor.limit(limit);
      return cursor.all() as Doc[];
    });
  }

  findOne(filter: AnyObject): Promise<Doc | null> {
    const [doc] = this.#matching(filter);
    return Promise.resolve(doc === undefined ? null : clone(doc));
  }

  aggregate(pipeline: AnyObject[]): MingoCursor {
    const stages = withZonedDateTrunc(pipeline) as AnyObject[];
    return new MingoCursor(() => aggregate(this.#all(), stages, options) as Doc[]);
  }

  updateOne(
    filter: { _id: string },
    update: { $set?: AnyObject; $unset?: AnyObject },
    opts: { upsert?: boolean },
  ): Promise<{ matchedCount: number }> {
    const key = JSON.stringify(filter._id);
    let doc = this.docs.get(key);
    if (doc === undefined) {
      if (!opts.upsert) return Promise.resolve({ matchedCount: 0 });
      doc = { _id: filter._id };
      this.docs.set(key, doc);
    }
    const unset = new Set(Object.keys(update.$unset ?? {}));
    const next: Doc = {
      ...Object.fromEntries(Object.entries(doc).filter(([k]) => !unset.has(k))),
      _id: doc._id,
    };
    this.docs.set(key, Object.assign(next, clone(update.$set ?? {})));
    return Promise.resolve({ matchedCount: 1 });
  }

  deleteMany(filter: AnyObject): Promise<{ deletedCount: number }> {
    const gone = this.#matching(filter);
    for (const doc of gone) this.docs.delete(JSON.stringify(doc._id));
    return Promise.resolve({ deletedCount: gone.length });
  }

  deleteOne(filter: AnyObject): Promise<{ deletedCount: number }> {
    const [doc] = this.#matching(filter);
    if (doc !== undefined) this.docs.delete(JSON.stringify(doc._id));
    return Promise.resolve({ deletedCount: doc === undefined ? 0 : 1 });
  }
}

export class MingoDb {
  readonly collections = new Map<string, MingoCollection>();
  collection(name: string): MingoCollection {
    let c = this.collections.get(name);
    if (c === undefined) {
      c = new MingoCollection(name);
      this.collections.set(name, c);
    }
    return c;
  }
}
