import type { CreditRecordPublished, CreditRepaired } from "@shenguan/contracts";
import type { DomainEvent } from "@shenguan/eventstore";

/** The events of a credit subject's stream; both are published contracts. */
export type CreditEvent = DomainEvent<"CreditRecordPublished", CreditRecordPublished> | DomainEvent<"CreditRepaired", CreditRepaired>;

/** The credit platform keeps one stream per subject (统一社会信用代码). */
export const creditStream = (uscc: string) => `credit-${uscc}`;
