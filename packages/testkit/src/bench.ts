/**
 * The benchmark harness every package's bench/ uses: ours and the peer alternate round by round after a
 * warm-up (so drift of a noisy machine hits both alike), medians are reported, then one JSON line per case in
 * the format CONVENTIONS.md fixes.
 */
import { cpus } from 'node:os';

/** One comparison: a measurement of ours and of the peer, each returning one value per round. */
export interface BenchCase {
  /** Case id from the issue, e.g. `schedule`; the JSON line says `<package>.<id>`. */
  id: string;
  /** Unit of the measured value, e.g. `ops/s`, `ms`, `GB/s`. */
  unit: string;
  /** Whether a higher or a lower value is better. */
  better: 'higher' | 'lower';
  /** Name of the peer, e.g. `setTimeout`. */
  peer: string;
  /** Runs ours once and returns the value. */
  ours: () => Promise<number> | number;
  /** Runs the peer once and returns the value. */
  theirs: () => Promise<number> | number;
  /** Measured rounds of each (default 5). */
  rounds?: number;
  /** Unmeasured rounds of each first (default 1). */
  warmup?: number;
}

/** What one case produced. */
export interface BenchResult {
  bench: string;
  unit: string;
  better: 'higher' | 'lower';
  ours: number;
  peer: string;
  peerValue: number;
  ratio: number;
}

/** True when the bench was started with `--quick` (smaller sizes, a quick check). */
export function isQuick(argv: readonly string[] = process.argv): boolean {
  return argv.includes('--quick');
}

/**
 * The case ids given as `--only=a,b` (run just those), or undefined to run every case. A name that matches no
 * case is an error, so a typo does not silently run nothing.
 */
export function onlyCases(argv: readonly string[] = process.argv): string[] | undefined {
  const arg = argv.find((a) => a.startsWith('--only='));
  return arg === undefined ? undefined : arg.slice('--only='.length).split(',').filter((id) => id.length > 0);
}

/**
 * A whole-number setting given as `--<name>=N` (e.g. `--rounds=9` for more rounds on a noisy machine), or
 * undefined when absent. Anything but a whole number from 0 up is an error, so a typo does not run defaults.
 */
export function countOption(name: string, argv: readonly string[] = process.argv): number | undefined {
  const arg = argv.find((a) => a.startsWith(`--${name}=`));
  if (arg === undefined) return undefined;
  const text = arg.slice(name.length + 3);
  const n = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(n)) throw new Error(`--${name} wants a whole number from 0 up, got '${text}'`);
  return n;
}

/** Median of a non-empty list. */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new Error('median of no values');
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `ours/peer` when higher is better, `peer/ours` when lower is better: above 1 always means ours wins. */
export function ratio(better: 'higher' | 'lower', ours: number, peer: number): number {
  return better === 'higher' ? ours / peer : peer / ours;
}

const round3 = (n: number): number => Number(n.toPrecision(4));

/**
 * Runs the cases in order (only those named by `--only=` when given), prints the human table and then the JSON
 * lines, and returns the results. `--rounds=N` and `--warmup=N` replace every case's own counts.
 */
export async function runBench(pkg: string, cases: readonly BenchCase[], argv: readonly string[] = process.argv): Promise<BenchResult[]> {
  console.log(`# ${pkg} benchmarks — node ${process.version}, ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown cpu'})${isQuick(argv) ? ', --quick' : ''}`);
  const only = onlyCases(argv);
  const rounds = countOption('rounds', argv);
  const warmup = countOption('warmup', argv);
  if (rounds === 0) throw new Error('--rounds wants at least 1');
  const unknown = only?.filter((id) => !cases.some((c) => c.id === id)) ?? [];
  if (unknown.length > 0) throw new Error(`--only names no case ${unknown.join(', ')}; cases: ${cases.map((c) => c.id).join(', ')}`);
  const results: BenchResult[] = [];
  for (const c of cases) {
    if (only && !only.includes(c.id)) continue;
    for (let i = 0; i < (warmup ?? c.warmup ?? 1); i++) {
      await c.ours();
      await c.theirs();
    }
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < (rounds ?? c.rounds ?? 5); i++) {
      // Alternate which side goes first so neither always runs on a warmer (or more tired) machine.
      if (i % 2 === 0) {
        ours.push(await c.ours());
        theirs.push(await c.theirs());
      } else {
        theirs.push(await c.theirs());
        ours.push(await c.ours());
      }
    }
    const result: BenchResult = {
      bench: `${pkg}.${c.id}`,
      unit: c.unit,
      better: c.better,
      ours: round3(median(ours)),
      peer: c.peer,
      peerValue: round3(median(theirs)),
      ratio: round3(ratio(c.better, median(ours), median(theirs))),
    };
    results.push(result);
    console.log(
      `${c.id.padEnd(16)} ours ${fmt(result.ours)} ${c.unit}  vs ${c.peer} ${fmt(result.peerValue)} ${c.unit}  ratio ${result.ratio}x` +
        `  (rounds ours [${ours.map(fmt).join(', ')}], peer [${theirs.map(fmt).join(', ')}])`,
    );
  }
  for (const result of results) console.log(JSON.stringify(result));
  return results;
}

function fmt(n: number): string {
  return Math.abs(n) >= 1000 ? Math.round(n).toLocaleString('en-US') : String(round3(n));
}
