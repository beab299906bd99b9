/**
 * A bounded least-recently-used map from a token hash or session id to where its record lives.
 * Only facts that never change are kept (a session's bucket follows from its user, which never
 * changes), and every script checks the record again, so an entry can be stale but never wrong
 * in a way that matters: at worst it leads to a record that answers "missing".
 * @internal
 */
export class PointerCache<V> {
  readonly #entries = new Map<string, V>();
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get(key: string): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined) {
      // Move to the young end: Map iterates in insertion order.
      this.#entries.delete(key);
      this.#entries.set(key, value);
    }
    return value;
  }

  set(key: string, value: V): void {
    if (this.#capacity === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.#capacity) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }
}
