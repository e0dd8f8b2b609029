/**
 * Optional persistence of a member's records (`[herd] data_dir`): one SQLite
 * file per member, `<data_dir>/<Name>.sqlite`, through `node:sqlite` (built
 * into Deno). A record is written, synchronously, when the store accepts it,
 * which is before the AT reply of its IAMAT is written; the file runs in WAL
 * mode with `synchronous=NORMAL`, so a written record survives the process
 * being killed, and survives power loss once SQLite has synced the WAL
 * (at checkpoints, by default every 1000 pages). An erased client's row
 * holds its tombstone's ERASE line in place of the AT line, so the erasure
 * survives a restart and no older record comes back from the file.
 *
 * With `record_ttl_s`, the expiry sweep deletes the rows of the records it
 * drops ({@linkcode RecordFile.delete}), and the load at start skips and
 * deletes the rows already expired, so an expired record never comes back
 * from disk.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { parseMessage, type StoreEntry, type WireText } from "../protocol/mod.ts";
import type { RecordStore } from "./store.ts";

/** A member's record file. */
export class RecordFile {
  /** Where the file is. */
  readonly path: string;
  #db: DatabaseSync;
  #upsert: StatementSync;
  #delete: StatementSync | null = null;

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
    this.#upsert = db.prepare(
      "INSERT INTO records (client_id, at_line) VALUES (?, ?) " +
        "ON CONFLICT (client_id) DO UPDATE SET at_line = excluded.at_line",
    );
  }

  /**
   * Opens (creating if needed) `<dir>/<member>.sqlite`.
   *
   * @param dir The data directory; created if missing.
   * @param member The member's name.
   * @returns The open file.
   * @throws {Error} With a one-line message naming the path if it cannot be opened.
   */
  static open(dir: string, member: string): RecordFile {
    const path = `${dir}/${member}.sqlite`;
    try {
      Deno.mkdirSync(dir, { recursive: true });
      const db = new DatabaseSync(path);
      db.exec(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; " +
          "CREATE TABLE IF NOT EXISTS records (client_id TEXT PRIMARY KEY, at_line TEXT NOT NULL)",
      );
      return new RecordFile(path, db);
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      throw new Error(
        `Cannot open record file ${path}: ${why}; check data_dir and its permissions`,
      );
    }
  }

  /**
   * Every record (and tombstone) in the file. Rows that no longer parse are skipped.
   *
   * @returns The entries and how many rows were skipped.
   */
  load(): { records: StoreEntry[]; skipped: number } {
    const records: StoreEntry[] = [];
    let skipped = 0;
    for (const row of this.#db.prepare("SELECT at_line FROM records").iterate()) {
      const entry = entryOfRow(row.at_line);
      if (entry !== null) records.push(entry);
      else skipped++;
    }
    return { records, skipped };
  }

  /**
   * Applies every record in the file to a store, row by row: no array of
   * parsed records in between (a million of them would take about 570 MB of
   * heap at start). Rows that no longer parse are skipped; rows whose record
   * `expired` says is expired are skipped and deleted from the file.
   *
   * @param store The store to fill (newer records win, as always).
   * @param expired The expiry rule for a client time (`record_ttl_s`, protocol/expiry.ts).
   *   @default none expires
   * @returns How many rows were read as records, how many were skipped, and how many were
   *   expired (and deleted).
   * @throws {Error} If SQLite fails to delete the expired rows.
   */
  loadInto(
    store: RecordStore,
    expired?: (clientTime: WireText) => boolean,
  ): { records: number; skipped: number; expired: number } {
    let records = 0;
    let skipped = 0;
    // Row ids, not client ids: 8 bytes each if a long downtime expired the whole file.
    const gone: number[] = [];
    for (const row of this.#db.prepare("SELECT rowid, at_line FROM records").iterate()) {
      const entry = entryOfRow(row.at_line);
      if (entry === null) {
        skipped++;
        continue;
      }
      if (expired !== undefined && expired(entry.clientTimeText)) {
        gone.push(Number(row.rowid));
        continue;
      }
      store.apply(entry);
      records++;
    }
    if (gone.length > 0) {
      const del = this.#db.prepare("DELETE FROM records WHERE rowid = ?");
      this.#inTransaction(() => {
        for (const id of gone) del.run(id);
      });
    }
    return { records, skipped, expired: gone.length };
  }

  /**
   * Deletes the rows of some clients (records the expiry sweep dropped), in one transaction.
   *
   * @param clientIds The clients (wire text); unknown ones are ignored.
   * @throws {Error} If SQLite fails (disk full, file removed); nothing is deleted then.
   */
  delete(clientIds: Iterable<WireText>): void {
    const del = this.#delete ??= this.#db.prepare("DELETE FROM records WHERE client_id = ?");
    this.#inTransaction(() => {
      for (const id of clientIds) del.run(id);
    });
  }

  /** Runs `work` in one transaction: all of it is written, or none. */
  #inTransaction(work: () => void): void {
    this.#db.exec("BEGIN");
    try {
      work();
      this.#db.exec("COMMIT");
    } catch (e) {
      this.#db.exec("ROLLBACK");
      throw e;
    }
  }

  /**
   * Writes a client's record, replacing the previous one.
   *
   * @param clientId The client (wire text: chars 0-255, stored as such).
   * @param atLine The record's AT line (a tombstone's ERASE line), no terminator.
   * @throws {Error} If SQLite fails (disk full, file removed).
   */
  save(clientId: WireText, atLine: WireText): void {
    this.#upsert.run(clientId, atLine);
  }

  /** Closes the file (idempotent). */
  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

/** The record (AT line) or tombstone (ERASE line) of a row, or `null` if it does not parse. */
function entryOfRow(value: unknown): StoreEntry | null {
  const msg = parseMessage(String(value));
  return msg.kind === "AT" ? msg.record : msg.kind === "ERASE" ? msg.tombstone : null;
}
