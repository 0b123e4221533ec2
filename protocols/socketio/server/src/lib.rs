//! The Socket.IO server of switchboard (being built).
