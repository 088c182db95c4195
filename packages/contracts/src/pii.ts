import type { EventName } from "./generated/types.js";

/** The personal identifiers the bus protects (个人信息): ID-card numbers, natural persons' names, phone numbers. */
export type PiiKind = "id-card" | "name" | "phone";

/**
 * One personal field of a contract. `path` is dotted, `[]` steps into every
 * element of an array (`changes[].to`). A field can be personal only in some
 * events: a party's name is a person's name when the party has no USCC (an
 * organisation always has one, a natural person never does), and a licence
 * change carries personal data only when it changes a personal field.
 */
export interface PiiField {
  readonly path: string;
  readonly kind: PiiKind;
  /** Personal only when this sibling (a key of the same object) is null or absent. */
  readonly unlessPresent?: string;
  /** Personal only when the sibling `field` holds one of `values`. */
  readonly whenSibling?: { readonly field: string; readonly values: readonly string[] };
}

const PARTY_NAME_IF_PERSON = (path: string, uscc: string): PiiField => ({ path, kind: "name", unlessPresent: uscc });

/** Licence fields whose change carries personal data, by kind. */
export const PERSONAL_LICENCE_FIELDS: Readonly<Record<PiiKind, readonly string[]>> = {
  name: ["legalRepresentative", "holder.name", "contactName"],
  "id-card": ["holder.idNumber", "idNumber"],
  phone: ["contactPhone", "phone", "mobile"],
};

const changeOf = (side: "from" | "to"): PiiField[] =>
  (Object.keys(PERSONAL_LICENCE_FIELDS) as PiiKind[]).map((kind) => ({
    path: `changes[].${side}`,
    kind,
    whenSibling: { field: "field", values: PERSONAL_LICENCE_FIELDS[kind] },
  }));

/**
 * Where personal data sits in each contract. The schemas mark the fields that
 * are always personal (`"pii": "id-card"`); this catalog adds the conditional
 * ones, which a schema attribute cannot express. A test checks every path
 * exists in its schema and every field whose name looks personal is here or
 * in {@link NOT_PERSONAL} with the reason.
 */
export const piiCatalog: { readonly [N in EventName]?: readonly PiiField[] } = {
  ApplicationAccepted: [{ path: "applicant.idNumber", kind: "id-card" }, PARTY_NAME_IF_PERSON("applicant.name", "uscc")],
  LicenceGranted: [
    { path: "holder.idNumber", kind: "id-card" },
    PARTY_NAME_IF_PERSON("holder.name", "uscc"),
    { path: "legalRepresentative", kind: "name" },
  ],
  LicenceChanged: [...changeOf("from"), ...changeOf("to")],
  LicenceDenied: [PARTY_NAME_IF_PERSON("applicantName", "applicantUscc")],
  HandoffPushed: [PARTY_NAME_IF_PERSON("holderName", "holderUscc")],
  CommitmentVerified: [PARTY_NAME_IF_PERSON("holderName", "holderUscc")],
  TransferredToEnforcement: [PARTY_NAME_IF_PERSON("holderName", "holderUscc")],
  PenaltyImposed: [PARTY_NAME_IF_PERSON("holderName", "holderUscc")],
};

/** Fields whose names look personal but are not, and why: the catalog test reads this list. */
export const NOT_PERSONAL: Readonly<Record<string, string>> = {
  "ApplicationAccepted.itemName": "事项名称: the name of a service item",
  "LicenceGranted.itemName": "事项名称: the name of a service item",
  "LicenceGranted.issuingAuthorityName": "the name of an agency",
  "CreditRecordPublished.holderName": "holderUscc is required: a credit record here is always about an organisation",
};

/** The catalogued fields of an event type (empty for a contract without personal data). */
export function piiFieldsOf(name: string): readonly PiiField[] {
  return (piiCatalog as Record<string, readonly PiiField[] | undefined>)[name] ?? [];
}
