import { randomBytes } from 'node:crypto';

/** A title no other test uses, so that tests may share one database. */
export function uniqueTitle(prefix) {
  return `${prefix} ${randomBytes(4).toString('hex')}`;
}

/** Plain GraphQL over HTTP POST; returns { status, headers, body }. */
export async function post(url, query, variables, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, headers: res.headers, body: await res.json() };
}

/**
 * Collects the values of an observable-like source into an array and lets a
 * test wait until a predicate holds on it.
 */
export class Collector {
  constructor() {
    this.values = [];
    this.errors = [];
    this.waiters = [];
  }

  push(v) {
    this.values.push(v);
    this.check();
  }

  fail(err) {
    this.errors.push(err);
    this.check();
  }

  check() {
    for (const w of [...this.waiters]) {
      if (this.errors.length) {
        w.reject(this.errors[0]);
      } else if (w.pred(this.values)) {
        w.resolve(this.values);
      } else {
        continue;
      }
      clearTimeout(w.timer);
      this.waiters.splice(this.waiters.indexOf(w), 1);
    }
  }

  /** Resolves with the values once pred(values) holds; rejects after ms. */
  until(pred, ms = 10_000) {
    return new Promise((resolve, reject) => {
      const w = { pred, resolve, reject };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`timed out after ${ms} ms; got ${JSON.stringify(this.values)}`));
      }, ms);
      this.waiters.push(w);
      this.check();
    });
  }
}

export const ITEM_FIELDS = `
  id title description version createdAt updatedAt enrichedAt externalData
  externalPost { id userId title body author { id name username email } }
`;
