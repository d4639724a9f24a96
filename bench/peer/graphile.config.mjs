// PostGraphile v5 for the benchmark: the Amber preset over Pipecast's tables (schema public), on one Node
// process. The index behaviours are off so that any column can be ordered by (Pipecast's lists order by
// name and close date, which are not the leading column of an index), aligning what both return.
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import { makePgService } from "postgraphile/adaptors/pg";

export default {
  extends: [PostGraphileAmberPreset],
  disablePlugins: ["PgIndexBehaviorsPlugin"],
  pgServices: [makePgService({ connectionString: process.env.DATABASE_URL, schemas: ["public"] })],
  grafserv: { port: Number(process.env.PORT), host: "127.0.0.1" },
};
