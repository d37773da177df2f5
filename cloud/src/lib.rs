//! The cloud service.
