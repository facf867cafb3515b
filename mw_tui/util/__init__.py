"""Small pieces every layer may use: SQLite access (`sqlite`), bursts of notifications
merged (`coalesce`), listeners told in turn (`listeners`), byte sizes for people (`sizes`),
logging set-up (`logs`) and patient data kept out of the logs (`privacy`)."""
