/**
 * A list kept in order by a comparator, in blocks of at most {@link BLOCK} items, so that adding,
 * removing and finding a place cost O(√n) moves rather than O(n): what lets MemoryStore list,
 * touch and end the sessions of a user who has a hundred thousand of them as fast as those of a
 * user with ten. Items must be distinct under the comparator (sessions: by activity, then id).
 * @internal
 */
export class SortedList<T extends K, K = T> {
  readonly #compare: (a: K, b: K) => number;
  #blocks: T[][] = [];
  #size = 0;

  constructor(compare: (a: K, b: K) => number) {
    this.#compare = compare;
  }

  get size(): number {
    return this.#size;
  }

  add(item: T): void {
    const blocks = this.#blocks;
    if (blocks.length === 0) {
      blocks.push([item]);
      this.#size = 1;
      return;
    }
    const b = this.#blockFor(item);
    const block = blocks[b]!;
    block.splice(this.#indexIn(block, item), 0, item);
    this.#size += 1;
    if (block.length > BLOCK * 2) blocks.splice(b + 1, 0, block.splice(BLOCK));
  }

  /** Removes the item equal to `item` under the comparator; returns whether there was one. */
  delete(item: K): boolean {
    const blocks = this.#blocks;
    if (blocks.length === 0) return false;
    const b = this.#blockFor(item);
    const block = blocks[b]!;
    const i = this.#indexIn(block, item);
    if (i >= block.length || this.#compare(block[i]!, item) !== 0) return false;
    block.splice(i, 1);
    this.#size -= 1;
    if (block.length === 0) blocks.splice(b, 1);
    return true;
  }

  /** The items that sort strictly after `after` (all of them without it), in order. */
  *from(after?: K): Generator<T> {
    const blocks = this.#blocks;
    let b = 0;
    let i = 0;
    if (after !== undefined && blocks.length > 0) {
      b = this.#blockFor(after);
      const block = blocks[b]!;
      i = this.#indexIn(block, after);
      if (i < block.length && this.#compare(block[i]!, after) === 0) i += 1;
    }
    // Copied per block: the caller may change the list while it walks.
    for (; b < blocks.length; b += 1, i = 0) {
      const block = blocks[b]!.slice(i);
      yield* block;
    }
  }

  /** The items from the last backwards, in reverse order. */
  *fromEnd(): Generator<T> {
    for (let b = this.#blocks.length - 1; b >= 0; b -= 1) {
      const block = this.#blocks[b]!.slice();
      for (let i = block.length - 1; i >= 0; i -= 1) yield block[i]!;
    }
  }

  /** The block an item belongs in: the first whose last item does not sort before it. */
  #blockFor(item: K): number {
    const blocks = this.#blocks;
    let low = 0;
    let high = blocks.length - 1;
    while (low < high) {
      const mid = (low + high) >> 1;
      const block = blocks[mid]!;
      if (this.#compare(block[block.length - 1]!, item) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  /** The first index in `block` whose item does not sort before `item`. */
  #indexIn(block: T[], item: K): number {
    let low = 0;
    let high = block.length;
    while (low < high) {
      const mid = (low + high) >> 1;
      if (this.#compare(block[mid]!, item) < 0) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}

/** Items per block: splitting past twice this keeps every block's splice a short move. */
const BLOCK = 512;
