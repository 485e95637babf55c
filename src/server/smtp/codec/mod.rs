//! Sans-I/O SMTP wire format, one file a piece: the line framer (`line`), one [`Command`] per
//! verb (`command`), the [`Reply`] writer (`reply`) and the DATA reader (`data`: dot-unstuffing
//! and size limit). Nothing here touches a socket, so every byte-boundary case is unit-tested.

mod command;
mod data;
mod line;
mod reply;

pub use command::{Command, Param};
pub use data::{DataReader, DataStatus};
pub use line::{Line, MAX_COMMAND_LINE, TooLong, parse_line, skip_line};
pub use reply::{Reply, encode_verbatim};
