// Task runs read a page at a time with the API's cursors, as far as the
// rows in view need: opening an execution of 10,000 runs reads one page,
// and scrolling reads on. When the execution changes, the pages in view
// are read again (at most twice a second).
import { enc, get } from './api.js';

export const PAGE = 250;

export class RunPages {
  // state, when set, keeps the runs in that state (such pages may be
  // short: they are read on until the rows in view are filled).
  constructor(id, state, onChange) {
    this.id = id;
    this.state = state || '';
    this.onChange = onChange;
    this.items = [];
    this.starts = ['']; // the cursor each page was read from
    this.next = '';
    this.done = false;
    this.busy = null;
    this.stale = false;
    this.want = [0, 0];
    this.refreshing = null;
    this.lastRefresh = 0;
  }

  at(i) {
    return this.items[i];
  }

  async read(cursor) {
    let q = `limit=${PAGE}`;
    if (cursor) q += `&cursor=${enc(cursor)}`;
    if (this.state) q += `&state=${enc(this.state)}`;
    return get(`/executions/${enc(this.id)}?${q}`);
  }

  // ensure reads on until rows first..last are there (or there are none
  // left), then refreshes what is stale in view.
  ensure(first, last) {
    this.want = [first, last];
    if (this.busy) return this.busy;
    this.busy = (async () => {
      try {
        while (this.items.length < last && !this.done) {
          const cursor = this.next;
          const doc = await this.read(cursor);
          if (this.items.length % PAGE === 0 && this.starts[this.items.length / PAGE] === undefined) this.starts[this.items.length / PAGE] = cursor;
          this.items.push(...doc.taskRuns);
          this.next = doc.nextCursor || '';
          this.done = !doc.nextCursor;
          this.onChange();
        }
      } finally {
        this.busy = null;
      }
      if (this.stale) this.refresh();
    })();
    return this.busy;
  }

  // changed marks what was read as old: the execution moved on.
  changed() {
    this.stale = true;
    this.refresh();
  }

  refresh() {
    if (this.refreshing || this.busy) return;
    const wait = Math.max(0, this.lastRefresh + 500 - Date.now());
    this.refreshing = setTimeout(async () => {
      this.stale = false;
      this.lastRefresh = Date.now();
      try {
        if (this.state) {
          // Runs move in and out of a state: read the filtered list again.
          const [first, last] = this.want;
          this.items = [];
          this.next = '';
          this.done = false;
          this.onChange();
          await this.ensure(first, Math.max(last, PAGE));
        } else {
          const [first, last] = this.want;
          const from = Math.floor(first / PAGE);
          const to = Math.min(Math.floor(Math.max(last - 1, 0) / PAGE), this.starts.length - 1);
          for (let k = from; k <= to; k++) {
            const doc = await this.read(this.starts[k]);
            this.items.splice(k * PAGE, doc.taskRuns.length, ...doc.taskRuns);
            if (k === this.starts.length - 1) {
              this.next = doc.nextCursor || '';
              this.done = !doc.nextCursor;
            }
          }
          // New runs were added after the last page read: read on.
          if (!this.done && this.items.length < last) await this.ensure(first, last);
          this.onChange();
        }
      } catch {
        this.stale = true;
      } finally {
        this.refreshing = null;
      }
    }, wait);
  }

  stop() {
    clearTimeout(this.refreshing);
    this.onChange = () => {};
  }
}
