//! Seed files of hardware tokens (being written).
