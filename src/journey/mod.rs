//! Journey data in: the event and customer contracts of docs/architecture.md, read from Parquet, CSV and
//! JSONL with validation that names file, row and column, and written back as Parquet.

pub(crate) mod arrow_columns;
pub mod customers;
pub mod error;
pub mod event;
pub mod identity;
pub mod inspect;
pub mod reader;
pub mod writer;

pub use customers::{
    AttrValue, AttributeColumn, AttributeKind, CustomerRowError, CustomerTable, TypedTable,
};
pub use error::{JourneyError, RowProblem};
pub use event::{Channel, Event, EventType, TimeError, Timestamp};
pub use identity::IdentityLinks;
pub use reader::{EventChunk, EventReader, Format, ReadOptions};
