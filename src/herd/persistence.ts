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
   * heap at start). Rows that no longer parse are skipped.
   *
   * @param store The store to fill (newer records win, as always).
   * @returns How many rows were read as records, and how many were skipped.
   */
  loadInto(store: RecordStore): { records: number; skipped: number } {
    let records = 0;
    let skipped = 0;
    for (const row of this.#db.prepare("SELECT at_line FROM records").iterate()) {
      const entry = entryOfRow(row.at_line);
      if (entry === null) {
        skipped++;
        continue;
      }
      store.apply(entry);
      records++;
    }
    return { records, skipped };
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
