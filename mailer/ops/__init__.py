"""Operations: retention, metrics, readiness and relay checks, backups, the doctor's checks."""
