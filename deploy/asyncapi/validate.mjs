// Validates an AsyncAPI document with AsyncAPI's own parser (@asyncapi/parser: the AsyncAPI 3.0
// JSON Schema and the spec's rules). Prints every diagnostic; exits 1 on any error or warning.
//   node deploy/asyncapi/validate.mjs schemas/asyncapi.json
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const path = process.argv[2];
if (!path) {
  console.error("usage: node validate.mjs ASYNCAPI_FILE");
  process.exit(2);
}
const parser = new Parser();
const { document, diagnostics } = await parser.parse(await readFile(path, "utf8"));
const names = ["error", "warning", "info", "hint"];
let failing = 0;
for (const d of diagnostics) {
  const where = d.path.length ? d.path.join(".") : "(document)";
  console.log(`${names[d.severity]}: ${d.code}: ${where}: ${d.message}`);
  if (d.severity <= DiagnosticSeverity.Warning) failing += 1;
}
if (!document || failing) {
  console.error(`${path}: ${failing} error(s) or warning(s)`);
  process.exit(1);
}
console.log(`${path}: valid AsyncAPI ${document.version()}`);
