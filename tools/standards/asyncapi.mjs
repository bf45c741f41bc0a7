// Parse docs/events/asyncapi.yaml with the official AsyncAPI parser (its spec and Spectral rules) and
// fail on any error or warning. The payloads are JSON Schema 2020-12, a format the parser does not
// ship: it is registered here with Ajv's 2020-12 validator, so each payload schema is also checked
// against its metaschema.
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { Parser, fromFile } from "@asyncapi/parser";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const SCHEMA_FORMAT = "application/schema+json;version=2020-12";

function jsonSchema2020Parser() {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  return {
    async validate(input) {
      const valid = ajv.validateSchema(input.data);
      if (valid) return [];
      return ajv.errors.map((error) => ({
        message: `${error.instancePath || "(root)"} ${error.message}`,
        path: [...input.path, ...error.instancePath.split("/").filter(Boolean)],
      }));
    },
    async parse(input) {
      return input.data;
    },
    getMimeTypes() {
      return [SCHEMA_FORMAT];
    },
  };
}

const file = resolve(process.argv[2] ?? "docs/events/asyncapi.yaml");
const parser = new Parser();
parser.registerSchemaParser(jsonSchema2020Parser());
const { document, diagnostics } = await fromFile(parser, file).parse({
  source: pathToFileURL(file).href,
});
const severities = ["error", "warning", "info", "hint"];
const serious = diagnostics.filter((d) => d.severity <= 1);
for (const d of diagnostics) {
  console.log(`${severities[d.severity]} ${d.code} at ${d.path.join(".") || "(root)"}: ${d.message}`);
}
const errors = serious.filter((d) => d.severity === 0).length;
const warnings = serious.length - errors;
console.log(`${file}: ${errors} errors, ${warnings} warnings, ${diagnostics.length - serious.length} notes`);
if (document === undefined || serious.length > 0) process.exit(1);
