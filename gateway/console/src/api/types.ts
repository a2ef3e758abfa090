// The shapes the console reads, as the API's contract states them: src/api/schema.d.ts is
// generated from the gateway's /openapi.json (`make console-types`), and a test keeps that
// contract equal to what the running gateway serves. A change of the API that breaks a screen
// breaks `vue-tsc` first.

import type { components } from "./schema";

type Schemas = components["schemas"];

/** An answer or body of the API by its schema's name (e.g. Schema<"OrgOut">). */
export type Schema<Name extends keyof Schemas> = Schemas[Name];

export type Org = Schema<"OrgOut">;
export type Member = Schema<"MemberOut">;
