//! The spool's record format: a decision and its exposure events, framed so that a write cut
//! short by a crash is recognised.
//!
//! A record is `[payload length: u32 LE][FNV-1a 64 of the payload: u64 LE][payload]`. The
//! payload starts with a format byte: [`BINARY`] for the compact encoding below (what the spool
//! writes), `{` for the JSON that earlier versions wrote, still read so that an upgrade after
//! a crash replays the old files. A record cut short fails its length or checksum and ends the
//! file's replay; it was never answered, since the answer follows the write.
//!
//! The binary payload writes strings as `u32 LE length + UTF-8`, numbers little-endian,
//! options as a presence byte, in the field order of [`DecisionRecord`] and [`Event`]; the
//! request context, free-form JSON, is kept as its JSON text. Encoding costs a copy of the
//! strings rather than JSON's escaping and number formatting: the spool thread runs once per
//! answered decision, so its CPU is the durable answer's price.

use std::collections::BTreeMap;

use crate::fnv::Fnv1a;
use crate::journey::{Channel, Event, EventType, Timestamp};
use crate::store::types::{DecisionRecord, ExperimentArm, LoggedAction};
use crate::store::StoreError;

/// Bytes of a record's header: length and checksum.
pub(super) const HEADER_BYTES: usize = 12;

/// A record larger than this is not one the spool wrote (decisions are bounded far below).
const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

/// The first payload byte of the binary encoding (JSON payloads start with `{`).
const BINARY: u8 = 1;

/// A decision and its exposure events, as read back from a spool file.
pub(crate) type Spooled = (DecisionRecord, Vec<Event>);

/// Encodes one record onto `out`.
pub(super) fn encode(
    out: &mut Vec<u8>,
    decision: &DecisionRecord,
    events: &[Event],
) -> Result<(), StoreError> {
    let start = out.len();
    out.extend_from_slice(&[0; HEADER_BYTES]);
    out.push(BINARY);
    put_decision(out, decision)?;
    put_len(out, events.len())?;
    for event in events {
        put_event(out, event)?;
    }
    let payload = &out[start + HEADER_BYTES..];
    let length = u32::try_from(payload.len()).map_err(|_| too_large())?;
    let checksum = Fnv1a::default().update(payload).finish();
    out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    out[start + 4..start + HEADER_BYTES].copy_from_slice(&checksum.to_le_bytes());
    Ok(())
}

/// Decodes the records of one spool file, up to the first one that is cut short or damaged;
/// returns them and the bytes they span.
pub(super) fn decode(bytes: &[u8]) -> (Vec<Spooled>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while bytes.len() - at >= HEADER_BYTES {
        let length = u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
        let length = length as usize;
        let mut checksum = [0; 8];
        checksum.copy_from_slice(&bytes[at + 4..at + HEADER_BYTES]);
        let end = at + HEADER_BYTES + length;
        if length > MAX_RECORD_BYTES || end > bytes.len() {
            break;
        }
        let payload = &bytes[at + HEADER_BYTES..end];
        if Fnv1a::default().update(payload).finish() != u64::from_le_bytes(checksum) {
            break;
        }
        match decode_payload(payload) {
            Some(record) => records.push(record),
            None => break,
        }
        at = end;
    }
    (records, at)
}

fn decode_payload(payload: &[u8]) -> Option<Spooled> {
    match payload.first()? {
        &BINARY => {
            let mut reader = Reader {
                bytes: &payload[1..],
            };
            let decision = reader.decision()?;
            let count = reader.len()?;
            let mut events = Vec::with_capacity(count.min(1_024));
            for _ in 0..count {
                events.push(reader.event()?);
            }
            reader.bytes.is_empty().then_some((decision, events))
        }
        b'{' => {
            #[derive(serde::Deserialize)]
            struct Json {
                decision: DecisionRecord,
                events: Vec<Event>,
            }
            let json: Json = serde_json::from_slice(payload).ok()?;
            Some((json.decision, json.events))
        }
        _ => None,
    }
}

fn too_large() -> StoreError {
    StoreError::io("encoding a decision for the spool", "larger than 4 GiB")
}

fn put_len(out: &mut Vec<u8>, len: usize) -> Result<(), StoreError> {
    let len = u32::try_from(len).map_err(|_| too_large())?;
    out.extend_from_slice(&len.to_le_bytes());
    Ok(())
}

fn put_str(out: &mut Vec<u8>, text: &str) -> Result<(), StoreError> {
    put_len(out, text.len())?;
    out.extend_from_slice(text.as_bytes());
    Ok(())
}

fn put_opt_str(out: &mut Vec<u8>, text: Option<&str>) -> Result<(), StoreError> {
    match text {
        Some(text) => {
            out.push(1);
            put_str(out, text)
        }
        None => {
            out.push(0);
            Ok(())
        }
    }
}

fn put_f64(out: &mut Vec<u8>, value: f64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_decision(out: &mut Vec<u8>, d: &DecisionRecord) -> Result<(), StoreError> {
    put_str(out, &d.decision_id)?;
    put_str(out, &d.customer_id)?;
    put_str(out, &d.policy)?;
    match &d.experiment {
        Some(arm) => {
            out.push(1);
            put_str(out, &arm.experiment_id)?;
            put_str(out, &arm.arm)?;
        }
        None => out.push(0),
    }
    put_len(out, d.actions.len())?;
    for action in &d.actions {
        put_str(out, &action.action_id)?;
        out.extend_from_slice(&action.rank.to_le_bytes());
        put_f64(out, action.score);
        put_f64(out, action.propensity);
    }
    put_len(out, d.model_versions.len())?;
    for (role, version) in &d.model_versions {
        put_str(out, role)?;
        put_str(out, version)?;
    }
    // The context is free-form JSON, bounded by the request limits; its text is what the log
    // stores too.
    let context = serde_json::to_string(&d.context)
        .map_err(|e| StoreError::io("encoding a decision for the spool", e))?;
    put_str(out, &context)?;
    out.extend_from_slice(&d.created.0.to_le_bytes());
    out.extend_from_slice(&d.latency_us.to_le_bytes());
    out.push(u8::from(d.dry_run));
    Ok(())
}

fn put_event(out: &mut Vec<u8>, e: &Event) -> Result<(), StoreError> {
    put_str(out, &e.customer_id)?;
    out.extend_from_slice(&e.timestamp.0.to_le_bytes());
    put_str(out, e.event_type.as_str())?;
    put_opt_str(out, e.channel.as_ref().map(Channel::as_str))?;
    put_opt_str(out, e.action_id.as_deref())?;
    match e.value {
        Some(value) => {
            out.push(1);
            put_f64(out, value);
        }
        None => out.push(0),
    }
    put_opt_str(out, e.text.as_deref())?;
    put_opt_str(out, e.anonymous_id.as_deref())
}

/// Reads the binary payload; `None` at the first thing that does not fit.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.bytes.split_first_chunk::<N>()?;
        self.bytes = rest;
        Some(*head)
    }

    fn byte(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    fn flag(&mut self) -> Option<bool> {
        match self.byte()? {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }

    fn len(&mut self) -> Option<usize> {
        self.take::<4>().map(|b| u32::from_le_bytes(b) as usize)
    }

    fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_le_bytes)
    }

    fn i64(&mut self) -> Option<i64> {
        self.take::<8>().map(i64::from_le_bytes)
    }

    fn f64(&mut self) -> Option<f64> {
        self.take::<8>().map(f64::from_le_bytes)
    }

    fn string(&mut self) -> Option<String> {
        let len = self.len()?;
        if len > self.bytes.len() {
            return None;
        }
        let (text, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        String::from_utf8(text.to_vec()).ok()
    }

    fn opt_string(&mut self) -> Option<Option<String>> {
        if self.flag()? {
            self.string().map(Some)
        } else {
            Some(None)
        }
    }

    fn decision(&mut self) -> Option<DecisionRecord> {
        let decision_id = self.string()?;
        let customer_id = self.string()?;
        let policy = self.string()?;
        let experiment = if self.flag()? {
            Some(ExperimentArm {
                experiment_id: self.string()?,
                arm: self.string()?,
            })
        } else {
            None
        };
        let count = self.len()?;
        let mut actions = Vec::with_capacity(count.min(1_024));
        for _ in 0..count {
            actions.push(LoggedAction {
                action_id: self.string()?,
                rank: u32::from_le_bytes(self.take::<4>()?),
                score: self.f64()?,
                propensity: self.f64()?,
            });
        }
        let count = self.len()?;
        let mut model_versions = BTreeMap::new();
        for _ in 0..count {
            model_versions.insert(self.string()?, self.string()?);
        }
        let context = serde_json::from_str(&self.string()?).ok()?;
        Some(DecisionRecord {
            decision_id,
            customer_id,
            policy,
            experiment,
            actions,
            model_versions,
            context,
            created: Timestamp(self.i64()?),
            latency_us: self.u64()?,
            dry_run: self.flag()?,
        })
    }

    fn event(&mut self) -> Option<Event> {
        Some(Event {
            customer_id: self.string()?,
            timestamp: Timestamp(self.i64()?),
            event_type: EventType::parse(&self.string()?),
            channel: self.opt_string()?.map(|c| Channel::parse(&c)),
            action_id: self.opt_string()?,
            value: if self.flag()? {
                Some(self.f64()?)
            } else {
                None
            },
            text: self.opt_string()?,
            anonymous_id: self.opt_string()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(id: &str) -> DecisionRecord {
        let mut model_versions = BTreeMap::new();
        model_versions.insert("churn".to_string(), "gbdt-2026".to_string());
        DecisionRecord {
            decision_id: id.into(),
            customer_id: "C\u{e9}1".into(),
            policy: "default".into(),
            experiment: Some(ExperimentArm {
                experiment_id: "e1".into(),
                arm: "b".into(),
            }),
            actions: vec![LoggedAction {
                action_id: "email_discount".into(),
                rank: 1,
                score: 0.125,
                propensity: 0.9,
            }],
            model_versions,
            context: serde_json::json!({"channel": "web", "n": [1, 2.5]}),
            created: Timestamp(1_700_000_000_000_000),
            latency_us: 120,
            dry_run: true,
        }
    }

    fn exposure() -> Event {
        Event {
            customer_id: "C\u{e9}1".into(),
            timestamp: Timestamp(-5),
            event_type: EventType::Action,
            channel: Some(Channel::parse("pigeon")),
            action_id: Some("email_discount".into()),
            value: Some(-0.0),
            text: Some("\"quoted\"\n".into()),
            anonymous_id: None,
        }
    }

    #[test]
    fn every_field_round_trips() {
        let mut bytes = Vec::new();
        encode(&mut bytes, &decision("d1"), &[exposure(), exposure()]).unwrap();
        let (records, used) = decode(&bytes);
        assert_eq!(used, bytes.len());
        assert_eq!(
            records,
            vec![(decision("d1"), vec![exposure(), exposure()])]
        );
    }

    #[test]
    fn records_written_as_json_by_earlier_versions_are_still_read() {
        let payload = serde_json::to_vec(&serde_json::json!({
            "decision": decision("old"),
            "events": [exposure()],
        }))
        .unwrap();
        let mut bytes = (payload.len() as u32).to_le_bytes().to_vec();
        bytes.extend_from_slice(&Fnv1a::default().update(&payload).finish().to_le_bytes());
        bytes.extend_from_slice(&payload);
        encode(&mut bytes, &decision("new"), &[]).unwrap();
        let (records, used) = decode(&bytes);
        assert_eq!(used, bytes.len());
        assert_eq!(records[0], (decision("old"), vec![exposure()]));
        assert_eq!(records[1].0.decision_id, "new");
    }

    #[test]
    fn a_payload_with_a_valid_checksum_but_a_wrong_shape_ends_the_replay() {
        let mut bytes = Vec::new();
        encode(&mut bytes, &decision("d1"), &[]).unwrap();
        let first = bytes.len();
        // A binary payload one byte short of its last field, checksummed as if whole.
        let mut payload = Vec::new();
        encode(&mut payload, &decision("d2"), &[]).unwrap();
        let inner = &payload[HEADER_BYTES..payload.len() - 1];
        bytes.extend_from_slice(&(inner.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&Fnv1a::default().update(inner).finish().to_le_bytes());
        bytes.extend_from_slice(inner);
        let (records, used) = decode(&bytes);
        assert_eq!(records.len(), 1);
        assert_eq!(used, first);
    }
}
