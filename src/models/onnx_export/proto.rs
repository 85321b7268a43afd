//! The few ONNX protobuf messages an exported model needs, encoded by hand: a model is a
//! small tree of messages (model → graph → nodes → attributes, tensors, value infos), and the
//! protobuf wire format for it is a page of code — lighter than a code generator and the
//! whole `onnx.proto` as build dependencies. Field numbers are `onnx.proto`'s (IR version 8).

/// An element type of `TensorProto.DataType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElemType {
    /// 32-bit float.
    Float = 1,
    /// 64-bit float.
    Double = 11,
}

/// Bytes of one message under construction.
#[derive(Default)]
pub struct Message(Vec<u8>);

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

impl Message {
    fn key(&mut self, field: u32, wire: u8) {
        varint(&mut self.0, (u64::from(field) << 3) | u64::from(wire));
    }

    /// An integer field (int32, int64, enum).
    pub fn int(&mut self, field: u32, value: i64) -> &mut Self {
        self.key(field, 0);
        varint(&mut self.0, value as u64);
        self
    }

    /// A bytes or string field.
    pub fn bytes(&mut self, field: u32, value: &[u8]) -> &mut Self {
        self.key(field, 2);
        varint(&mut self.0, value.len() as u64);
        self.0.extend_from_slice(value);
        self
    }

    /// A string field.
    pub fn string(&mut self, field: u32, value: &str) -> &mut Self {
        self.bytes(field, value.as_bytes())
    }

    /// An embedded message.
    pub fn message(&mut self, field: u32, value: &Message) -> &mut Self {
        self.bytes(field, &value.0)
    }

    /// A packed repeated integer field.
    pub fn packed_ints(&mut self, field: u32, values: &[i64]) -> &mut Self {
        let mut body = Vec::with_capacity(values.len() * 2);
        for &v in values {
            varint(&mut body, v as u64);
        }
        self.bytes(field, &body)
    }

    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// `TensorProto` of doubles (raw little-endian data).
pub fn double_tensor(name: &str, dims: &[i64], values: &[f64]) -> Message {
    let mut t = Message::default();
    t.packed_ints(1, dims)
        .int(2, ElemType::Double as i64)
        .string(8, name);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    t.bytes(9, &raw);
    t
}

/// An attribute of a node (`AttributeProto`, with its `type` set as ONNX Runtime requires).
pub enum Attr<'a> {
    /// INT.
    Int(&'a str, i64),
    /// STRING.
    Str(&'a str, &'a str),
    /// INTS.
    Ints(&'a str, Vec<i64>),
    /// STRINGS.
    Strs(&'a str, Vec<&'a str>),
    /// TENSOR.
    Tensor(&'a str, Message),
}

impl Attr<'_> {
    fn encode(&self) -> Message {
        let mut a = Message::default();
        match self {
            Attr::Int(name, v) => {
                a.string(1, name).int(3, *v).int(20, 2);
            }
            Attr::Str(name, v) => {
                a.string(1, name).string(4, v).int(20, 3);
            }
            Attr::Ints(name, v) => {
                a.string(1, name).packed_ints(8, v).int(20, 7);
            }
            Attr::Strs(name, v) => {
                a.string(1, name);
                for s in v {
                    a.string(9, s);
                }
                a.int(20, 8);
            }
            Attr::Tensor(name, t) => {
                a.string(1, name).message(5, t).int(20, 4);
            }
        }
        a
    }
}

/// `NodeProto`.
pub fn node(
    op: &str,
    domain: &str,
    inputs: &[&str],
    outputs: &[&str],
    attrs: &[Attr<'_>],
) -> Message {
    let mut n = Message::default();
    for i in inputs {
        n.string(1, i);
    }
    for o in outputs {
        n.string(2, o);
    }
    n.string(
        3,
        &format!("{op}_{}", outputs.first().copied().unwrap_or("out")),
    );
    n.string(4, op);
    for a in attrs {
        n.message(5, &a.encode());
    }
    if !domain.is_empty() {
        n.string(7, domain);
    }
    n
}

/// `ValueInfoProto` of a tensor with a symbolic batch dimension and a fixed width.
pub fn tensor_info(name: &str, elem: ElemType, width: i64) -> Message {
    let mut batch = Message::default();
    batch.string(2, "N");
    let mut cols = Message::default();
    cols.int(1, width);
    let mut shape = Message::default();
    shape.message(1, &batch).message(1, &cols);
    let mut tensor = Message::default();
    tensor.int(1, elem as i64).message(2, &shape);
    let mut ty = Message::default();
    ty.message(1, &tensor);
    let mut info = Message::default();
    info.string(1, name).message(2, &ty);
    info
}

/// A whole `ModelProto`: one graph, the default and `ai.onnx.ml` opsets, metadata.
pub fn model(
    graph_name: &str,
    nodes: Vec<Message>,
    initializers: Vec<Message>,
    input: Message,
    output: Message,
    metadata: &[(&str, String)],
) -> Vec<u8> {
    let mut graph = Message::default();
    for n in &nodes {
        graph.message(1, n);
    }
    graph.string(2, graph_name);
    for t in &initializers {
        graph.message(5, t);
    }
    graph.message(11, &input).message(12, &output);
    let mut m = Message::default();
    m.int(1, 8)
        .string(2, "nextbest")
        .string(3, env!("CARGO_PKG_VERSION"))
        .string(4, "ai.nextbest");
    m.message(7, &graph);
    for (domain, version) in [("", 17), ("ai.onnx.ml", 3)] {
        let mut opset = Message::default();
        opset.string(1, domain).int(2, version);
        m.message(8, &opset);
    }
    for (key, value) in metadata {
        let mut entry = Message::default();
        entry.string(1, key).string(2, value);
        m.message(14, &entry);
    }
    m.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_keys_follow_the_wire_format() {
        let mut m = Message::default();
        m.int(1, 300).string(2, "hi");
        // 300 = 0b1_0010_1100 → AC 02; key 1/varint = 08; key 2/len = 12.
        assert_eq!(
            m.into_bytes(),
            vec![0x08, 0xAC, 0x02, 0x12, 0x02, b'h', b'i']
        );
        let mut m = Message::default();
        m.int(3, -1);
        assert_eq!(
            m.into_bytes().len(),
            1 + 10,
            "negative int64s take ten bytes"
        );
    }
}
