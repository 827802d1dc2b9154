//! Deletion paths against mocked AWS clients.
