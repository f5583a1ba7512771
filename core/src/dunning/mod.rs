//! Dunning (relance) under French law: stages, penalties, the 40 € indemnity, pauses and stops.
