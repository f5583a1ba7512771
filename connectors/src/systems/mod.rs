//! One module per external system (ERP, bank API, mail, folders of files).
