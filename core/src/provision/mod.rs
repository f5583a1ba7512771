//! Doubtful debts (créances douteuses): classification, provision rates and PCG entries.
