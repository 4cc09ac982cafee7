//! RADIUS second factor (being written).
