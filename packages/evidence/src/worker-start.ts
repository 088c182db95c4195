/**
 * Starting worker threads whose code is a module of the workspace: compiled
 * JavaScript as it is, TypeScript sources (tests, tsx, the CLI) either
 * through tsx's API (startWorker) or bundled with esbuild (startModuleWorker).
 */
import { createHash } from "node:crypto";
import { lstatSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker, type ResourceLimits } from "node:worker_threads";

/** The ESM entry of tsx's API (its CommonJS twin cannot load the ESM half from an eval'd worker). */
function tsxEsmApi(from: string): string {
  const manifestPath = createRequire(from).resolve("tsx/package.json");
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8")) as { exports?: Record<string, { import?: { default?: string } }> };
  const entry = manifest.exports?.["./esm/api"]?.import?.default;
  if (entry === undefined) throw new Error("tsx has no ./esm/api export: cannot start workers from TypeScript sources");
  return new URL(entry, pathToFileURL(manifestPath)).href;
}

/**
 * Starts a worker running `module` (a sibling of this file named without its
 * extension, or a module's URL): the compiled .js next to this module, or,
 * when running from TypeScript sources (tests, tsx), the .ts file loaded
 * through tsx's API (the root workspace's dev dependency).
 * @internal shared with the signing pool.
 */
export function startWorker(module: string | URL, workerData: unknown): Worker {
  const self = import.meta.url;
  if (typeof module === "string" && !self.endsWith(".ts")) return new Worker(new URL(`./${module}.js`, self), { workerData });
  const url = typeof module === "string" ? new URL(`./${module}.ts`, self) : module;
  if (!url.pathname.endsWith(".ts")) return new Worker(url, { workerData });
  const tsx = tsxEsmApi(self);
  const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => api.tsImport(${JSON.stringify(url.href)}, ${JSON.stringify(url.href)}))`;
  return new Worker(bootstrap, { eval: true, workerData });
}

/** The URL of module `name` next to the module at `base`: its .ts when `base` is TypeScript (run from sources), else its .js. */
export function moduleBeside(name: string, base: string): URL {
  return new URL(`./${name}${base.endsWith(".ts") ? ".ts" : ".js"}`, base);
}

/**
 * Starts a worker running the module at `url`. From TypeScript sources the
 * module is bundled with esbuild and run as a plain script: a worker that
 * loads tsx instead spends ~0.5–0.7 s starting (its loader thread resolves
 * and transforms every import across threads), longer than a whole-log
 * verification takes. The bundle is kept for the process and on disk (see
 * BundleCache). Without esbuild it starts as startWorker does.
 * @internal for the signature pool and the event store's log verification workers.
 */
export async function startModuleWorker(
  url: URL,
  options: { readonly workerData?: unknown; readonly resourceLimits?: ResourceLimits } = {},
): Promise<Worker> {
  const extra = options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits };
  if (!url.pathname.endsWith(".ts")) return new Worker(url, { workerData: options.workerData, ...extra });
  const code = await bundle(url).catch(() => undefined);
  if (code === undefined) return startWorker(url, options.workerData);
  try {
    return new Worker(code, { eval: true, workerData: options.workerData, execArgv: execArgvWithoutLoaders(), ...extra });
  } catch (error) {
    // V8 and per-process options cannot be given to a worker (they are the process's already): none, then.
    if ((error as { code?: unknown }).code !== "ERR_WORKER_INVALID_EXEC_ARGV") throw error;
    return new Worker(code, { eval: true, workerData: options.workerData, execArgv: [], ...extra });
  }
}

/** The process's options for a worker, without the loaders (tsx) that a bundled worker does not need and pays ~0.5 s each to start. */
function execArgvWithoutLoaders(): string[] {
  const out: string[] = [];
  const args = process.execArgv;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (/^(--import|--require|-r|--loader|--experimental-loader)$/.test(arg)) i++;
    else if (!/^(--import|--require|--loader|--experimental-loader)=/.test(arg)) out.push(arg);
  }
  return out;
}

/** What is used of esbuild's API (esbuild comes with tsx; this package does not depend on it). */
interface Esbuild {
  readonly version: string;
  build(options: {
    readonly entryPoints: string[];
    readonly absWorkingDir: string;
    readonly bundle: true;
    readonly platform: "node";
    readonly format: "cjs";
    readonly target: string;
    readonly write: false;
    readonly metafile: true;
    readonly logLevel: "silent";
    readonly plugins: { readonly name: string; setup(build: EsbuildPluginBuild): void }[];
  }): Promise<{
    readonly outputFiles: readonly { readonly text: string }[];
    readonly metafile: { readonly inputs: Record<string, unknown> };
  }>;
}

interface EsbuildResolveArgs {
  readonly path: string;
  readonly kind: string;
  readonly resolveDir: string;
  readonly pluginData?: unknown;
}

interface EsbuildPluginBuild {
  onResolve(
    options: { readonly filter: RegExp },
    callback: (args: EsbuildResolveArgs) => Promise<{ readonly path: string; readonly external: true } | undefined>,
  ): void;
  resolve(
    path: string,
    options: { readonly kind: string; readonly resolveDir: string; readonly pluginData: unknown },
  ): Promise<{ readonly errors: readonly unknown[] }>;
}

/** esbuild, as tsx (which transforms with it) depends on it; undefined where there is none. */
function esbuildOf(from: string): Esbuild | undefined {
  try {
    return createRequire(createRequire(from).resolve("tsx/package.json"))("esbuild") as Esbuild;
  } catch {
    return undefined;
  }
}

// One bundle per worker module per process: a server starting workers per request bundles once.
const bundles = new Map<string, Promise<string | undefined>>();

/** A TypeScript worker module and everything it imports as one CommonJS script, or undefined when esbuild is not at hand. */
function bundle(url: URL): Promise<string | undefined> {
  let built = bundles.get(url.href);
  if (built === undefined) {
    const esbuild = esbuildOf(import.meta.url);
    const building = esbuild === undefined ? Promise.resolve(undefined) : cachedBundle(esbuild, url);
    bundles.set(url.href, building);
    // A failed build is not remembered: the next start tries again.
    building.catch(() => bundles.delete(url.href));
    built = building;
  }
  return built;
}

async function cachedBundle(esbuild: Esbuild, url: URL): Promise<string> {
  const cache = BundleCache.open(esbuild.version, url);
  const kept = cache?.read();
  if (kept !== undefined) return kept;
  const { code, inputs } = await build(esbuild, url);
  cache?.write(code, inputs);
  return code;
}

async function build(esbuild: Esbuild, url: URL): Promise<{ readonly code: string; readonly inputs: readonly string[] }> {
  const cwd = process.cwd();
  const result = await esbuild.build({
    entryPoints: [fileURLToPath(url)],
    absWorkingDir: cwd,
    bundle: true,
    platform: "node",
    format: "cjs",
    target: `node${process.versions.node.split(".")[0]}`,
    write: false,
    metafile: true,
    logLevel: "silent",
    plugins: [
      {
        // A package that is not installed stays a require() that fails only if it runs, as it
        // would unbundled (node-postgres's optional native binding).
        name: "missing-packages-stay-runtime-requires",
        setup(build) {
          build.onResolve({ filter: /^[^./]/ }, async (args) => {
            if (args.pluginData === RESOLVING) return undefined;
            const found = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: RESOLVING });
            return found.errors.length > 0 ? { path: args.path, external: true } : undefined;
          });
        },
      },
    ],
  });
  return { code: result.outputFiles[0]!.text, inputs: Object.keys(result.metafile.inputs).map((input) => resolve(cwd, input)) };
}

const RESOLVING = Symbol("resolving");

/**
 * Bundles kept on disk between processes: building one costs ~0.1 s of esbuild, a tenth of what a
 * whole-log verification of 100 000 events may take. An entry holds the bundle and the size and
 * modification time of every file that went into it, and is used only while all of them are
 * unchanged. The directory is this user's alone (mode 0700, checked): a bundle is code this
 * process runs, so nobody else may be able to put one there.
 */
class BundleCache {
  private constructor(private readonly file: string) {}

  static open(esbuildVersion: string, url: URL): BundleCache | undefined {
    const uid = process.getuid?.();
    if (uid === undefined) return undefined; // no owner to check the directory against (Windows): no cache
    const dir = join(os.tmpdir(), `shenguan-worker-bundles-${uid}`);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const stat = lstatSync(dir);
      if (!stat.isDirectory() || stat.uid !== uid || (stat.mode & 0o077) !== 0) return undefined;
    } catch {
      return undefined;
    }
    const key = createHash("sha256").update(`${url.href}\0${esbuildVersion}\0${process.versions.node}`).digest("hex").slice(0, 32);
    return new BundleCache(join(dir, `${key}.json`));
  }

  read(): string | undefined {
    try {
      const stat = lstatSync(this.file);
      if (!stat.isFile() || stat.uid !== process.getuid?.() || (stat.mode & 0o077) !== 0) return undefined;
      const entry = JSON.parse(readFileSync(this.file, "utf8")) as { inputs: [string, number, number][]; code: string };
      for (const [path, size, mtimeMs] of entry.inputs) {
        const now = statSync(path);
        if (now.size !== size || now.mtimeMs !== mtimeMs) return undefined;
      }
      return entry.code;
    } catch {
      return undefined;
    }
  }

  write(code: string, inputs: readonly string[]): void {
    try {
      const entry = {
        inputs: inputs.map((path) => {
          const stat = statSync(path);
          return [path, stat.size, stat.mtimeMs];
        }),
        code,
      };
      // Whole or not at all: another process may be reading it.
      const temporary = `${this.file}.${process.pid}.tmp`;
      writeFileSync(temporary, JSON.stringify(entry), { mode: 0o600 });
      renameSync(temporary, this.file);
    } catch {
      // No cache this time: the bundle is built again next time.
    }
  }
}
