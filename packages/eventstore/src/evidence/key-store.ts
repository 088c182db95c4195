/**
 * Custody keys: like an X-Road security server holding its member's signing
 * key, the bus holds a signing key per department and signs that
 * department's events with it at append. A department that signs its own
 * events registers only its public key (in the department registry), never here.
 */
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { SigningKey, type KeyRingEntry, type SignatureAlgorithm, type Signer, type VerifyingKey } from "@shenguan/evidence";
import { KeyCustodyError } from "../errors.js";

export interface KeyStore {
  /** Creates a department's key on first use. For development and tests only: production registers departments. */
  readonly autoProvision: boolean;
  /** The department's custody signer; created when absent and autoProvision is on, else undefined. */
  signerFor(department: string): Promise<Signer | undefined>;
  /** The department's key, created with `alg` (default SM2-SM3) if it has none; an existing key keeps its algorithm. */
  ensure(department: string, alg?: SignatureAlgorithm): Promise<VerifyingKey>;
  /** The public half of every custody key, owned by its department: entries for a KeyRing. */
  publicKeys(): Promise<KeyRingEntry[]>;
}

export interface KeyStoreOptions {
  /** Create a key on first use (default false). Development and tests only. */
  readonly autoProvision?: boolean;
  /** The algorithm of keys created on first use (default SM2-SM3). */
  readonly alg?: SignatureAlgorithm;
}

const DEPARTMENT_CODE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** A department code names a key file, so it is checked before it reaches the file system. */
export function checkDepartmentCode(department: unknown): string {
  if (typeof department !== "string" || !DEPARTMENT_CODE.test(department)) {
    throw new KeyCustodyError(
      `department: must be 1 to 64 letters, digits, '-' or '_', starting with a letter or digit, got ${JSON.stringify(department)}`,
    );
  }
  return department;
}

/** What both stores share: one key per department, concurrent first uses creating it once. */
abstract class CustodyKeys implements KeyStore {
  readonly autoProvision: boolean;
  protected readonly alg: SignatureAlgorithm;
  protected readonly keys = new Map<string, SigningKey>();
  readonly #creating = new Map<string, Promise<SigningKey>>();

  constructor(options: KeyStoreOptions) {
    this.autoProvision = options.autoProvision ?? false;
    this.alg = options.alg ?? "SM2-SM3";
  }

  /** The department's key if this store holds one (loading it if it is stored elsewhere). */
  protected abstract load(department: string): Promise<SigningKey | undefined>;
  /** Keeps a new key; resolves to the key kept (another writer's, if it won). */
  protected abstract save(department: string, key: SigningKey): Promise<SigningKey>;
  abstract publicKeys(): Promise<KeyRingEntry[]>;

  async signerFor(department: string): Promise<Signer | undefined> {
    checkDepartmentCode(department);
    const key = this.keys.get(department) ?? (await this.load(department));
    if (key !== undefined) return key;
    return this.autoProvision ? this.create(department, this.alg) : undefined;
  }

  async ensure(department: string, alg: SignatureAlgorithm = this.alg): Promise<VerifyingKey> {
    checkDepartmentCode(department);
    const key = this.keys.get(department) ?? (await this.load(department)) ?? (await this.create(department, alg));
    return key.publicKey;
  }

  private create(department: string, alg: SignatureAlgorithm): Promise<SigningKey> {
    let creating = this.#creating.get(department);
    if (creating === undefined) {
      creating = this.save(department, SigningKey.generate(alg)).then((kept) => {
        this.keys.set(department, kept);
        return kept;
      });
      this.#creating.set(department, creating);
      const forget = () => this.#creating.delete(department);
      creating.then(forget, forget);
    }
    return creating;
  }
}

/** Keys in process memory: tests, and a development bus that forgets its keys on exit. */
export class MemoryKeyStore extends CustodyKeys {
  constructor(options: KeyStoreOptions = {}) {
    super(options);
  }

  /** Puts a given key in custody for the department (replacing any). */
  add(department: string, key: SigningKey): this {
    this.keys.set(checkDepartmentCode(department), key);
    return this;
  }

  protected async load(): Promise<SigningKey | undefined> {
    return undefined;
  }

  protected async save(_department: string, key: SigningKey): Promise<SigningKey> {
    return key;
  }

  async publicKeys(): Promise<KeyRingEntry[]> {
    return [...this.keys].map(([owner, key]) => ({ key: key.publicKey, owner }));
  }
}

function isErrno(error: unknown, code: string): boolean {
  return (error as { code?: unknown } | null)?.code === code;
}

/**
 * A directory of PKCS#8 PEM files, `<CODE>.pem`, one per department, each
 * readable by its owner only (0600, in a 0700 directory). The algorithm
 * follows from the key. Several processes may share the directory: a key
 * another one created is found on first use, and two creating the same key
 * at once keep one (the file is created exclusively).
 */
export class FileKeyStore extends CustodyKeys {
  constructor(
    readonly dir: string,
    options: KeyStoreOptions = {},
  ) {
    super(options);
  }

  private pathOf(department: string): string {
    return join(this.dir, `${department}.pem`);
  }

  private async read(department: string): Promise<SigningKey | undefined> {
    let pem: string;
    try {
      pem = await readFile(this.pathOf(department), "utf8");
    } catch (error) {
      if (isErrno(error, "ENOENT")) return undefined;
      throw new KeyCustodyError(`cannot read the key of department ${department} at ${this.pathOf(department)}`, { cause: error });
    }
    try {
      return SigningKey.from(pem);
    } catch (error) {
      throw new KeyCustodyError(`${this.pathOf(department)} is not a PKCS#8 SM2 or Ed25519 private key`, { cause: error });
    }
  }

  protected async load(department: string): Promise<SigningKey | undefined> {
    const key = await this.read(department);
    if (key !== undefined) this.keys.set(department, key);
    return key;
  }

  protected async save(department: string, key: SigningKey): Promise<SigningKey> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    try {
      await writeFile(this.pathOf(department), key.toPem(), { mode: 0o600, flag: "wx" });
      return key;
    } catch (error) {
      // Another process created it first: its key is the department's key.
      if (isErrno(error, "EEXIST")) return (await this.read(department))!;
      throw new KeyCustodyError(`cannot write the key of department ${department} to ${this.pathOf(department)}`, { cause: error });
    }
  }

  async publicKeys(): Promise<KeyRingEntry[]> {
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch (error) {
      if (isErrno(error, "ENOENT")) return [];
      throw new KeyCustodyError(`cannot list the key directory ${this.dir}`, { cause: error });
    }
    const entries: KeyRingEntry[] = [];
    for (const file of files.sort()) {
      const department = file.endsWith(".pem") ? file.slice(0, -".pem".length) : undefined;
      if (department === undefined || !DEPARTMENT_CODE.test(department)) continue;
      const key = this.keys.get(department) ?? (await this.load(department));
      if (key !== undefined) entries.push({ key: key.publicKey, owner: department });
    }
    return entries;
  }
}
