import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { v7 as uuidv7 } from "uuid";
import { describe, expect, it } from "vitest";
import { openEventStore } from "../src/open-store.js";
import { DATABASE_URL, postgresReachable, unavailableMessage } from "./support/postgres.js";

const metadata = { correlationId: "open", causationId: null, department: "TEST" };
const postgresUp = await postgresReachable();

describe("openEventStore", () => {
  it("opens embedded PGlite when no URL is configured, and keeps its data on disk", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "shenguan-pglite-"));
    try {
      const first = await openEventStore({ env: {}, dataDir });
      expect(first.kind).toBe("pglite");
      await first.store.append("kept", [{ type: "Kept", data: { n: 1 }, metadata }], "no_stream");
      await first.close();

      const second = await openEventStore({ env: {}, dataDir });
      expect((await second.store.readStream("kept")).map((e) => e.data)).toEqual([{ n: 1 }]);
      await second.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it("chooses KurrentDB when only KURRENTDB_URL is set (without connecting until used)", async () => {
    const opened = await openEventStore({ env: { KURRENTDB_URL: "esdb://127.0.0.1:1?tls=false" } });
    expect(opened.kind).toBe("kurrentdb");
    expect(opened.executor).toBeUndefined();
    await opened.close();
  });

  if (postgresUp) {
    it("prefers DATABASE_URL, creates the schema, migrates, and shares its executor", async () => {
      const schema = `open_${uuidv7().replaceAll("-", "")}`;
      const opened = await openEventStore({ env: { DATABASE_URL, KURRENTDB_URL: "esdb://unused" }, schema, poolSize: 4 });
      try {
        expect(opened.kind).toBe("postgres");
        await opened.store.append("s", [{ type: "Opened", data: {}, metadata }], "no_stream");
        const { rows } = await opened.executor!.query<{ n: string }>("select count(*)::text as n from events");
        expect(rows[0]!.n).toBe("1");
      } finally {
        await opened.close();
        const admin = new pg.Client({ connectionString: DATABASE_URL });
        await admin.connect();
        await admin.query(`drop schema ${schema} cascade`);
        await admin.end();
      }
    });
  } else {
    it(`openEventStore on PostgreSQL not run: ${unavailableMessage}`, () => {
      expect(process.env.CI, unavailableMessage).not.toBe("true");
    });
  }
});
