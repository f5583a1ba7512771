//! One module per external system (ERP, bank API, mail, folders of files).

pub mod chorus_pro;
pub mod dolibarr;
pub mod folder;
pub mod local;
pub mod odoo;
pub mod pa;
pub mod passes;
pub mod pennylane;
pub mod qonto;
pub mod smtp;
pub mod tryton;
