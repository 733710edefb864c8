"""Reading `.tflite` flatbuffers without TensorFlow.

The schema comes from `ai_edge_litert` (the LiteRT runtime), so listing a
model's operators works in the TensorFlow-free install as well as at export
time.
"""

from ai_edge_litert import schema_py_generated as schema


def _op_name(model, index):
    code = model.OperatorCodes(index)
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == schema.BuiltinOperator.CUSTOM:
        custom = code.CustomCode()
        return custom.decode("utf-8") if custom else "CUSTOM"
    for name, value in vars(schema.BuiltinOperator).items():
        if value == builtin and not name.startswith("_"):
            return name
    return f"BUILTIN_{builtin}"


def _operators(model):
    """`(subgraph, operator)` of every operator of a flatbuffer `Model`."""
    for s in range(model.SubgraphsLength()):
        graph = model.Subgraphs(s)
        for o in range(graph.OperatorsLength()):
            yield graph, graph.Operators(o)


def tflite_operators(content):
    """The operators of a `.tflite` flatbuffer, in execution order.

    Returns a list of dicts `{"op": "CONV_2D", "builtin": True, "inputs":
    ["INT8", ...], "outputs": ["INT8"]}` over all subgraphs; `inputs` and
    `outputs` are the tensor types. Custom and Flex ops have `builtin`
    False and their custom code as `op` (e.g. `"FlexErfinv"`).
    """
    types = {v: k for k, v in vars(schema.TensorType).items() if not k.startswith("_")}
    model = schema.Model.GetRootAsModel(content, 0)

    def tensor_types(graph, indices, length):
        if not length:
            return []
        return [types.get(graph.Tensors(i).Type()) for i in indices.tolist() if i >= 0]

    operators = []
    for graph, op in _operators(model):
        code = model.OperatorCodes(op.OpcodeIndex())
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        operators.append(
            {
                "op": _op_name(model, op.OpcodeIndex()),
                "builtin": builtin != schema.BuiltinOperator.CUSTOM,
                "inputs": tensor_types(graph, op.InputsAsNumpy(), op.InputsLength()),
                "outputs": tensor_types(graph, op.OutputsAsNumpy(), op.OutputsLength()),
            }
        )
    return operators


def non_builtin_ops(content):
    """Sorted names of the Flex and custom ops of a `.tflite` flatbuffer."""
    return sorted({op["op"] for op in tflite_operators(content) if not op["builtin"]})


def operator_output_names(content):
    """`(op type, name of its first output tensor)` for every operator."""
    model = schema.Model.GetRootAsModel(content, 0)
    return [
        (
            _op_name(model, op.OpcodeIndex()),
            graph.Tensors(op.Outputs(0)).Name().decode(),
        )
        for graph, op in _operators(model)
        if op.OutputsLength()
    ]
