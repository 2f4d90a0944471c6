// What a deploy would upload, per worker: wrangler's own dry run bundles it from its build
// directory (no build, no network), and each module it writes is gzipped here, as the upload
// limit counts them.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { ROOT } from "../../tests/e2e/harness.mjs";

export const UPLOAD_TARGET_KIB = 400;

/**
 * The modules a deploy of the worker configured by `config` (the bot's wrangler.toml, or the ops
 * worker's wrangler.ops.toml) uploads, with their raw and gzipped sizes (KiB), and the gzipped
 * total.
 */
export function uploadSize(config = "wrangler.toml") {
  const dir = mkdtempSync(join(tmpdir(), "fear-greed-upload-"));
  try {
    execFileSync(join(ROOT, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--config", config, "--outdir", dir], {
      cwd: ROOT,
      env: { ...process.env, CI: "true", SKIP_WORKER_BUILD: "1" },
      stdio: "pipe",
    });
    const modules = readdirSync(dir)
      .filter((name) => !name.endsWith(".map") && name !== "README.md")
      .map((name) => {
        const bytes = readFileSync(join(dir, name));
        return { name: name.replace(/^[0-9a-f]{40}-/, ""), kib: bytes.length / 1024, gzippedKib: gzipSync(bytes).length / 1024 };
      });
    return { modules, gzippedKib: modules.reduce((sum, m) => sum + m.gzippedKib, 0) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
