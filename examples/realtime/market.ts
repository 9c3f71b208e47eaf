// A seeded synthetic market: one tick at a time, a mid price that moves by
// regime (trending up, trending down, mean-reverting, volatile; a new regime
// every REGIME_TICKS) and a 5-level order book whose size imbalance leans
// towards the next move. Its whole state is a few numbers, so a checkpoint
// carries it and a resumed run continues the same stream.
import seedrandom from 'seedrandom';

export const LEVELS = 5;
const REGIME_TICKS = 600;
const REGIMES = [
  { name: 'trend-up', drift: 2e-4, vol: 6e-4, revert: 0 },
  { name: 'trend-down', drift: -2e-4, vol: 6e-4, revert: 0 },
  { name: 'mean-revert', drift: 0, vol: 8e-4, revert: 0.08 },
  { name: 'volatile', drift: 0, vol: 2e-3, revert: 0.02 },
];

export interface MarketState {
  rng: seedrandom.State;
  tick: number;
  price: number;
  anchor: number;
  regime: number;
  /** The next tick's return, drawn one tick early so the book can hint at it. */
  next: number;
}

/** How many ticks the history keeps: enough for every trainer's training and validation windows. */
const CAPACITY = 4096;

/** The newest ticks, oldest first: prices, log returns, and book sizes (bids then asks, log-scaled). */
export class History {
  readonly prices = new Float64Array(CAPACITY);
  readonly returns = new Float32Array(CAPACITY);
  readonly books = new Float32Array(CAPACITY * 2 * LEVELS);
  length = 0;

  push(price: number, ret: number, book: Float32Array): void {
    if (this.length === CAPACITY) {
      this.prices.copyWithin(0, 1);
      this.returns.copyWithin(0, 1);
      this.books.copyWithin(0, 2 * LEVELS);
      this.length--;
    }
    this.prices[this.length] = price;
    this.returns[this.length] = ret;
    this.books.set(book, this.length * 2 * LEVELS);
    this.length++;
  }
}

export class Market {
  readonly history = new History();
  private readonly rng: seedrandom.prng;
  private state: Omit<MarketState, 'rng'>;
  private readonly book = new Float32Array(2 * LEVELS);

  constructor(seed: string, resumed?: MarketState) {
    this.rng = resumed ? seedrandom.alea('', { state: resumed.rng }) : seedrandom.alea(seed, { state: true });
    this.state = resumed ? { ...resumed } : { tick: 0, price: 100, anchor: 100, regime: 2, next: 0 };
  }

  get tick(): number {
    return this.state.tick;
  }

  get regime(): string {
    return REGIMES[this.state.regime].name;
  }

  snapshot(): MarketState {
    return { ...this.state, rng: this.rng.state() };
  }

  /** Advances one tick; returns true when the regime changed. */
  advance(): boolean {
    const s = this.state;
    let switched = false;
    if (s.tick > 0 && s.tick % REGIME_TICKS === 0) {
      s.regime = (s.regime + 1 + Math.floor(this.rng() * (REGIMES.length - 1))) % REGIMES.length;
      s.anchor = s.price;
      switched = true;
    }
    const ret = s.next;
    s.price *= Math.exp(ret);
    const r = REGIMES[s.regime];
    s.next = r.drift + r.revert * Math.log(s.anchor / s.price) + r.vol * this.gaussian();
    // Resting size leans to the side the price is about to move away from.
    const lean = Math.tanh(s.next / r.vol);
    for (let l = 0; l < LEVELS; l++) {
      const depth = 1 + l * 0.5;
      this.book[l] = Math.log(depth * (1 + 0.6 * lean) + 0.3 * this.rng());
      this.book[LEVELS + l] = Math.log(depth * (1 - 0.6 * lean) + 0.3 * this.rng());
    }
    this.history.push(s.price, ret, this.book);
    s.tick++;
    return switched;
  }

  private gaussian(): number {
    const u = Math.max(this.rng(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.rng());
  }
}
