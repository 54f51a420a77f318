/**
 * What makes the store's portable SQL mean on PostgreSQL what it means on SQLite, as kysely plugins
 * (the store functions and migrations stay one text for both):
 * - `x in ()` (an empty list, which SQLite takes as false) is a syntax error in PostgreSQL: it
 *   becomes `1 = 0` (`not in ()`: `1 = 1`).
 * - In migrations, SQLite's `integer` is 64-bit and PostgreSQL's 32-bit: columns declared
 *   `integer` are `bigint` there (epoch milliseconds, byte counts), and an `autoIncrement` primary
 *   key is a `bigserial`. pg returns bigint as text: the store's pool parses it as a number
 *   (postgres.ts), as better-sqlite3 returns integers.
 */
import {
  BinaryOperationNode,
  type ColumnDefinitionNode,
  DataTypeNode,
  type KyselyPlugin,
  OperationNodeTransformer,
  OperatorNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  PrimitiveValueListNode,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
  ValueListNode,
  ValueNode,
} from 'kysely';

const EMPTY_LIST_ANSWER: Readonly<Record<string, number>> = { in: 0, 'not in': 1 };

class EmptyInLists extends OperationNodeTransformer {
  protected override transformBinaryOperation(node: BinaryOperationNode): BinaryOperationNode {
    const op = OperatorNode.is(node.operator) ? node.operator.operator : undefined;
    const right = node.rightOperand;
    const empty =
      (PrimitiveValueListNode.is(right) && right.values.length === 0) ||
      (ValueListNode.is(right) && right.values.length === 0);
    const answer = op === undefined ? undefined : EMPTY_LIST_ANSWER[op];
    if (empty && answer !== undefined) {
      return BinaryOperationNode.create(
        ValueNode.createImmediate(1),
        OperatorNode.create('='),
        ValueNode.createImmediate(answer),
      );
    }
    return super.transformBinaryOperation(node);
  }
}

class WideIntegers extends OperationNodeTransformer {
  protected override transformColumnDefinition(node: ColumnDefinitionNode): ColumnDefinitionNode {
    const t = super.transformColumnDefinition(node);
    const integer = DataTypeNode.is(t.dataType) && t.dataType.dataType === 'integer';
    if (!integer) return t;
    if (t.autoIncrement) return { ...t, autoIncrement: false, dataType: DataTypeNode.create('bigserial') };
    return { ...t, dataType: DataTypeNode.create('bigint') };
  }
}

function plugin(transformer: OperationNodeTransformer): KyselyPlugin {
  return {
    transformQuery: (args: PluginTransformQueryArgs): RootOperationNode =>
      transformer.transformNode(args.node),
    transformResult: async (args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> => args.result,
  };
}

/** For every query on PostgreSQL. */
export const emptyInListsPlugin = (): KyselyPlugin => plugin(new EmptyInLists());
/** For the migrations on PostgreSQL. */
export const wideIntegersPlugin = (): KyselyPlugin => plugin(new WideIntegers());
