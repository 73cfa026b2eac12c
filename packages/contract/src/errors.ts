/**
 * The contract is pure and reports bad *input* as issues, never by throwing. It throws only
 * when a caller breaks the contract itself (passes something the parsers would never return),
 * which is a programming error and never worth retrying.
 */
export class ContractError extends Error {
  readonly retryable = false as const;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class InvalidProcessSpecError extends ContractError {}
