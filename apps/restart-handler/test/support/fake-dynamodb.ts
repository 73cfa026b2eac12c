import {
  type AttributeValue,
  BatchGetItemCommand,
  ConditionalCheckFailedException,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  TransactionCanceledException,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { mockClient } from "aws-sdk-client-mock";

type Item = Record<string, AttributeValue>;
type Values = Record<string, AttributeValue> | undefined;

/**
 * A stateful stand-in for one DynamoDB table, behind aws-sdk-client-mock. It evaluates the
 * condition and update expressions the ledger uses (AND of attribute_exists / attribute_not_exists
 * / `=` / `<=`; SET, ADD and REMOVE; Put and Update in transactions), so budget and dedupe logic run against real conditional-write
 * semantics, including ConditionalCheckFailedException and transaction cancellation reasons.
 */
export class FakeDynamoTable {
  readonly items = new Map<string, Item>();
  readonly client = new DynamoDBClient({ region: "ap-northeast-2" });
  readonly mock = mockClient(this.client);
  /** Errors thrown by the next calls of a command, in order (fault injection). */
  readonly faults: { command: string; error: Error }[] = [];

  constructor() {
    this.mock.on(GetItemCommand).callsFake((input) => {
      this.fault("GetItem");
      const item = this.items.get(key(input.Key));
      return { Item: item === undefined ? undefined : structuredClone(item) };
    });
    this.mock.on(BatchGetItemCommand).callsFake((input) => {
      this.fault("BatchGetItem");
      const responses: Record<string, Item[]> = {};
      for (const [table, request] of Object.entries(input.RequestItems ?? {}) as [string, { Keys: Item[] }][]) {
        responses[table] = request.Keys.map((k) => this.items.get(key(k))).filter((item): item is Item => item !== undefined);
      }
      return { Responses: responses, UnprocessedKeys: {} };
    });
    this.mock.on(PutItemCommand).callsFake((input) => {
      this.fault("PutItem");
      if (!this.check(undefined, input.ConditionExpression, input.ExpressionAttributeValues, input.Item)) throw conditionFailed();
      this.items.set(key(input.Item), structuredClone(input.Item));
      return {};
    });
    this.mock.on(UpdateItemCommand).callsFake((input) => {
      this.fault("UpdateItem");
      const existing = this.items.get(key(input.Key));
      if (!this.check(existing, input.ConditionExpression, input.ExpressionAttributeValues)) throw conditionFailed();
      this.items.set(key(input.Key), applyUpdate(existing ?? structuredClone(input.Key), input.UpdateExpression, input.ExpressionAttributeValues));
      return {};
    });
    this.mock.on(TransactWriteItemsCommand).callsFake((input) => {
      this.fault("TransactWriteItems");
      type TransactPut = { Item: Item; ConditionExpression?: string; ExpressionAttributeValues?: Values };
      type TransactUpdate = { Key: Item; UpdateExpression: string; ConditionExpression?: string; ExpressionAttributeValues?: Values };
      type Write = { key: string; put?: TransactPut; update?: TransactUpdate };
      const writes: Write[] = (input.TransactItems ?? []).map((entry: { Put?: TransactPut; Update?: TransactUpdate }): Write => {
        if (entry.Put !== undefined) return { key: key(entry.Put.Item), put: entry.Put };
        if (entry.Update !== undefined) return { key: key(entry.Update.Key), update: entry.Update };
        throw new Error("fake table supports Put and Update in transactions only");
      });
      const reasons: { Code: string }[] = writes.map((write) => {
        const stored = this.items.get(write.key);
        const ok =
          write.put !== undefined
            ? this.check(stored, write.put.ConditionExpression, write.put.ExpressionAttributeValues, write.put.Item)
            : this.check(stored, write.update?.ConditionExpression, write.update?.ExpressionAttributeValues);
        return { Code: ok ? "None" : "ConditionalCheckFailed" };
      });
      if (reasons.some((reason) => reason.Code !== "None")) {
        throw new TransactionCanceledException({ message: "Transaction cancelled", $metadata: {}, CancellationReasons: reasons });
      }
      for (const write of writes) {
        if (write.put !== undefined) this.items.set(write.key, structuredClone(write.put.Item));
        else if (write.update !== undefined) {
          const existing = this.items.get(write.key) ?? structuredClone(write.update.Key);
          this.items.set(write.key, applyUpdate(existing, write.update.UpdateExpression, write.update.ExpressionAttributeValues));
        }
      }
      return {};
    });
  }

  private fault(command: string): void {
    const index = this.faults.findIndex((fault) => fault.command === command);
    if (index >= 0) {
      const [fault] = this.faults.splice(index, 1);
      throw fault?.error;
    }
  }

  /** `candidate` is the item a Put would write; conditions are evaluated against the stored one. */
  private check(stored: Item | undefined, condition: string | undefined, values: Values, candidate?: Item): boolean {
    if (candidate !== undefined) stored = this.items.get(key(candidate));
    if (condition === undefined) return true;
    return condition.split(" AND ").every((term) => evaluate(stored, term.trim(), values));
  }
}

function key(item: Item | undefined): string {
  const pk = item?.pk;
  if (pk === undefined || !("S" in pk) || pk.S === undefined) throw new Error("item without a string pk");
  return pk.S;
}

function conditionFailed(): Error {
  return new ConditionalCheckFailedException({ message: "The conditional request failed", $metadata: {} });
}

function evaluate(item: Item | undefined, term: string, values: Values): boolean {
  const exists = /^attribute_exists\((\w+)\)$/.exec(term);
  if (exists) return item?.[exists[1] ?? ""] !== undefined;
  const notExists = /^attribute_not_exists\((\w+)\)$/.exec(term);
  if (notExists) return item?.[notExists[1] ?? ""] === undefined;
  const comparison = /^(\w+) (=|<=) (:\w+)$/.exec(term);
  if (comparison) {
    const [, name = "", operator, placeholder = ""] = comparison;
    const left = item?.[name];
    const right = values?.[placeholder];
    if (left === undefined || right === undefined) return false;
    if ("N" in left && "N" in right) return operator === "=" ? Number(left.N) === Number(right.N) : Number(left.N) <= Number(right.N);
    if ("S" in left && "S" in right) return operator === "=" ? left.S === right.S : (left.S ?? "") <= (right.S ?? "");
    return false;
  }
  throw new Error(`fake table cannot evaluate "${term}"`);
}

/** SET a = :x, … / ADD n :one, set :values (numbers and string sets) / REMOVE a, b — in any order, as DynamoDB allows. */
function applyUpdate(item: Item, expression: string | undefined, values: Values): Item {
  const next = structuredClone(item);
  if (expression === undefined) return next;
  const clauses = [...expression.matchAll(/(SET|ADD|REMOVE) (.+?)(?= (?:SET|ADD|REMOVE) |$)/g)];
  if (clauses.length === 0) throw new Error(`fake table cannot apply "${expression}"`);
  for (const [, keyword, body = ""] of clauses) {
    for (const part of body.split(", ")) {
      if (keyword === "REMOVE") {
        delete next[part.trim()];
        continue;
      }
      const [name = "", placeholder = ""] = keyword === "SET" ? part.split(" = ") : part.trim().split(" ");
      const value = values?.[placeholder.trim()];
      if (value === undefined) throw new Error(`missing value ${placeholder}`);
      const attribute = name.trim();
      if (keyword === "SET") next[attribute] = value;
      else if ("N" in value) {
        const current = next[attribute];
        next[attribute] = { N: String((current !== undefined && "N" in current ? Number(current.N) : 0) + Number(value.N)) };
      } else if ("SS" in value) {
        const current = next[attribute];
        const existing = current !== undefined && "SS" in current ? (current.SS ?? []) : [];
        next[attribute] = { SS: [...new Set([...existing, ...(value.SS ?? [])])] };
      } else throw new Error(`fake table cannot ADD ${JSON.stringify(value)}`);
    }
  }
  return next;
}
