import { createHash } from "node:crypto";

const MODULUS = 1n << 256n;

/**
 * The order-independent collection checksum of contract section 10.4: for each record, SHA-256
 * over `<id>\n<updatedAt>` read as an unsigned 256-bit big-endian integer; the checksum is their
 * sum modulo 2^256 as 64 lowercase hex digits. A sync run reports it per collection, so a copy
 * computed the same way proves it holds exactly the records the run counted.
 */
export class Checksum {
  private sum = 0n;
  private records = 0;

  /** Adds one record (its id and its `updatedAt` exactly as App Sync wrote it). */
  add(id: string, updatedAt: string): void {
    const digest = createHash("sha256").update(`${id}\n${updatedAt}`).digest("hex");
    this.sum = (this.sum + BigInt(`0x${digest}`)) % MODULUS;
    this.records += 1;
  }

  /** Records added. */
  get count(): number {
    return this.records;
  }

  /** The checksum as 64 hex digits. */
  hex(): string {
    return this.sum.toString(16).padStart(64, "0");
  }
}
