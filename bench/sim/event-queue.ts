/**
 * The simulator's agenda: a binary min-heap of timed events. Ties are broken by insertion order, so that two
 * events at the same instant always run in the order they were scheduled (determinism).
 */
export interface SimEvent {
  /** Simulated time in seconds. */
  readonly at: number;
  readonly run: () => void;
}

interface Entry extends SimEvent {
  readonly seq: number;
}

export class EventQueue {
  private readonly heap: Entry[] = [];
  private seq = 0;

  get size(): number {
    return this.heap.length;
  }

  push(at: number, run: () => void): void {
    if (!Number.isFinite(at)) throw new Error(`event time must be finite, got ${at}`);
    this.heap.push({ at, run, seq: this.seq++ });
    this.up(this.heap.length - 1);
  }

  /** The earliest event, removed; undefined when empty. */
  pop(): SimEvent | undefined {
    const h = this.heap;
    if (h.length === 0) return undefined;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      this.down(0);
    }
    return top;
  }

  private less(a: Entry, b: Entry): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private up(i: number): void {
    const h = this.heap;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private down(i: number): void {
    const h = this.heap;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
      if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}
