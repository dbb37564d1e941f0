// Exits 1 when two files differ: `npm run check-generated` regenerates the types into a
// scratch file and compares it with the committed src/schema.ts.
import { readFileSync, rmSync } from "node:fs";
const [committed, fresh] = process.argv.slice(2);
const same = readFileSync(committed, "utf8") === readFileSync(fresh, "utf8");
rmSync(fresh);
if (!same) {
  console.error(`${committed} is out of date with docs/openapi.yaml: run npm run generate and commit it`);
  process.exit(1);
}
console.log(`${committed} matches docs/openapi.yaml`);
