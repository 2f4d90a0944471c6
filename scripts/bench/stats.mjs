// Small numeric helpers the bench's sections share: quantiles, summaries, pauses, fixed-width rows.

export const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
export const mean = (values) => values.reduce((sum, v) => sum + v, 0) / values.length;
export const median = (values) => quantile([...values].sort((a, b) => a - b), 0.5);
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** p50 and p95 of `times` (ms) and the mean of `cpu` (ms); NaN where there is no sample. */
export function summarize(times, cpu) {
  const sorted = [...times].sort((a, b) => a - b);
  return { p50: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), cpu: cpu.length ? mean(cpu) : NaN };
}

/** One table row: each value right-aligned to its column's width, the first column left-aligned. */
export function row(columns, values) {
  return values.map((v, i) => (i === 0 ? String(v).padEnd(columns[0][1]) : String(v).padStart(columns[i][1]))).join(" ");
}

export const fixed = (value, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : "-");
