//! Tests of the Responses codec: request and answer tables in both directions, the stream
//! writer's well-formedness (property-tested over random canonical event sequences), and the
//! stream reader (whatever the byte splits, and round trips through the writer).

mod request;
mod response;
mod stream;
