//! Writers of simple EN 16931 invoices in CII and UBL (and a Factur-X PDF around them), for
//! generated test data and benchmarks.

use chrono::NaiveDate;
use relance_core::money::round_cents;
use rust_decimal::Decimal;

/// A simple invoice: one VAT rate per line, standard-rated category S.
#[derive(Clone, Debug)]
pub struct SimpleInvoice {
    /// Number (BT-1).
    pub number: String,
    /// 380 invoice or 381 credit note.
    pub type_code: u16,
    /// Issue date.
    pub issue_date: NaiveDate,
    /// Due date.
    pub due_date: Option<NaiveDate>,
    /// ISO 4217 code.
    pub currency: String,
    /// Seller name and SIREN.
    pub seller: (String, Option<String>),
    /// Buyer name and SIREN.
    pub buyer: (String, Option<String>),
    /// Buyer reference (BT-10).
    pub buyer_reference: Option<String>,
    /// Order reference (BT-13).
    pub order_reference: Option<String>,
    /// Payee IBAN.
    pub iban: Option<String>,
    /// Lines: name, quantity, unit net price, VAT rate in percent.
    pub lines: Vec<(String, Decimal, Decimal, Decimal)>,
}

/// Escapes text for XML.
fn x(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Line net amounts, VAT breakdown (rate, base, tax), total without VAT, total VAT.
pub type Totals = (
    Vec<Decimal>,
    Vec<(Decimal, Decimal, Decimal)>,
    Decimal,
    Decimal,
);

/// Line nets, VAT per rate, totals.
pub fn totals(inv: &SimpleInvoice) -> Totals {
    let nets: Vec<Decimal> = inv
        .lines
        .iter()
        .map(|(_, q, p, _)| round_cents(*q * *p))
        .collect();
    let mut by_rate: Vec<(Decimal, Decimal, Decimal)> = Vec::new();
    for ((_, _, _, r), n) in inv.lines.iter().zip(&nets) {
        match by_rate.iter_mut().find(|(rate, _, _)| rate == r) {
            Some(e) => e.1 += *n,
            None => by_rate.push((*r, *n, Decimal::ZERO)),
        }
    }
    for e in &mut by_rate {
        e.2 = round_cents(e.1 * e.0 / Decimal::ONE_HUNDRED);
    }
    let ht: Decimal = nets.iter().sum();
    let tva: Decimal = by_rate.iter().map(|e| e.2).sum();
    (nets, by_rate, ht, tva)
}

/// The invoice as UN/CEFACT CII (Factur-X EN 16931 profile).
pub fn cii(inv: &SimpleInvoice) -> String {
    let (nets, rates, ht, tva) = totals(inv);
    let d = |d: NaiveDate| d.format("%Y%m%d").to_string();
    let party = |tag: &str, (name, siren): &(String, Option<String>)| {
        let legal = siren.as_ref().map_or(String::new(), |s| format!("<ram:SpecifiedLegalOrganization><ram:ID schemeID=\"0002\">{}</ram:ID></ram:SpecifiedLegalOrganization>", x(s)));
        format!("<ram:{tag}><ram:Name>{}</ram:Name>{legal}<ram:PostalTradeAddress><ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress></ram:{tag}>", x(name))
    };
    let mut s = String::with_capacity(4096);
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rsm:CrossIndustryInvoice xmlns:rsm=\"urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100\" xmlns:ram=\"urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100\" xmlns:udt=\"urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100\">");
    s.push_str("<rsm:ExchangedDocumentContext><ram:GuidelineSpecifiedDocumentContextParameter><ram:ID>urn:cen.eu:en16931:2017</ram:ID></ram:GuidelineSpecifiedDocumentContextParameter></rsm:ExchangedDocumentContext>");
    s.push_str(&format!("<rsm:ExchangedDocument><ram:ID>{}</ram:ID><ram:TypeCode>{}</ram:TypeCode><ram:IssueDateTime><udt:DateTimeString format=\"102\">{}</udt:DateTimeString></ram:IssueDateTime></rsm:ExchangedDocument><rsm:SupplyChainTradeTransaction>", x(&inv.number), inv.type_code, d(inv.issue_date)));
    for (i, ((name, q, p, r), n)) in inv.lines.iter().zip(&nets).enumerate() {
        s.push_str(&format!("<ram:IncludedSupplyChainTradeLineItem><ram:AssociatedDocumentLineDocument><ram:LineID>{}</ram:LineID></ram:AssociatedDocumentLineDocument><ram:SpecifiedTradeProduct><ram:Name>{}</ram:Name></ram:SpecifiedTradeProduct><ram:SpecifiedLineTradeAgreement><ram:NetPriceProductTradePrice><ram:ChargeAmount>{p}</ram:ChargeAmount></ram:NetPriceProductTradePrice></ram:SpecifiedLineTradeAgreement><ram:SpecifiedLineTradeDelivery><ram:BilledQuantity unitCode=\"C62\">{q}</ram:BilledQuantity></ram:SpecifiedLineTradeDelivery><ram:SpecifiedLineTradeSettlement><ram:ApplicableTradeTax><ram:TypeCode>VAT</ram:TypeCode><ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>{r}</ram:RateApplicablePercent></ram:ApplicableTradeTax><ram:SpecifiedTradeSettlementLineMonetarySummation><ram:LineTotalAmount>{n}</ram:LineTotalAmount></ram:SpecifiedTradeSettlementLineMonetarySummation></ram:SpecifiedLineTradeSettlement></ram:IncludedSupplyChainTradeLineItem>", i + 1, x(name)));
    }
    s.push_str("<ram:ApplicableHeaderTradeAgreement>");
    if let Some(b) = &inv.buyer_reference {
        s.push_str(&format!(
            "<ram:BuyerReference>{}</ram:BuyerReference>",
            x(b)
        ));
    }
    s.push_str(&party("SellerTradeParty", &inv.seller));
    s.push_str(&party("BuyerTradeParty", &inv.buyer));
    if let Some(o) = &inv.order_reference {
        s.push_str(&format!("<ram:BuyerOrderReferencedDocument><ram:IssuerAssignedID>{}</ram:IssuerAssignedID></ram:BuyerOrderReferencedDocument>", x(o)));
    }
    s.push_str("</ram:ApplicableHeaderTradeAgreement><ram:ApplicableHeaderTradeDelivery/><ram:ApplicableHeaderTradeSettlement>");
    s.push_str(&format!("<ram:PaymentReference>{}</ram:PaymentReference><ram:InvoiceCurrencyCode>{}</ram:InvoiceCurrencyCode>", x(&inv.number), x(&inv.currency)));
    if let Some(iban) = &inv.iban {
        s.push_str(&format!("<ram:SpecifiedTradeSettlementPaymentMeans><ram:TypeCode>58</ram:TypeCode><ram:PayeePartyCreditorFinancialAccount><ram:IBANID>{}</ram:IBANID></ram:PayeePartyCreditorFinancialAccount></ram:SpecifiedTradeSettlementPaymentMeans>", x(iban)));
    }
    for (r, base, tax) in &rates {
        s.push_str(&format!("<ram:ApplicableTradeTax><ram:CalculatedAmount>{tax}</ram:CalculatedAmount><ram:TypeCode>VAT</ram:TypeCode><ram:BasisAmount>{base}</ram:BasisAmount><ram:CategoryCode>S</ram:CategoryCode><ram:RateApplicablePercent>{r}</ram:RateApplicablePercent></ram:ApplicableTradeTax>"));
    }
    if let Some(due) = inv.due_date {
        s.push_str(&format!("<ram:SpecifiedTradePaymentTerms><ram:DueDateDateTime><udt:DateTimeString format=\"102\">{}</udt:DateTimeString></ram:DueDateDateTime></ram:SpecifiedTradePaymentTerms>", d(due)));
    }
    let ttc = ht + tva;
    s.push_str(&format!("<ram:SpecifiedTradeSettlementHeaderMonetarySummation><ram:LineTotalAmount>{ht}</ram:LineTotalAmount><ram:TaxBasisTotalAmount>{ht}</ram:TaxBasisTotalAmount><ram:TaxTotalAmount currencyID=\"{}\">{tva}</ram:TaxTotalAmount><ram:GrandTotalAmount>{ttc}</ram:GrandTotalAmount><ram:DuePayableAmount>{ttc}</ram:DuePayableAmount></ram:SpecifiedTradeSettlementHeaderMonetarySummation></ram:ApplicableHeaderTradeSettlement></rsm:SupplyChainTradeTransaction></rsm:CrossIndustryInvoice>\n", x(&inv.currency)));
    s
}

/// The invoice as UBL 2.1 (an Invoice, or a CreditNote for type 381).
pub fn ubl(inv: &SimpleInvoice) -> String {
    let (nets, rates, ht, tva) = totals(inv);
    let credit = inv.type_code == 381;
    let (root, tc, line, qty) = if credit {
        (
            "CreditNote",
            "CreditNoteTypeCode",
            "CreditNoteLine",
            "CreditedQuantity",
        )
    } else {
        (
            "Invoice",
            "InvoiceTypeCode",
            "InvoiceLine",
            "InvoicedQuantity",
        )
    };
    let cur = x(&inv.currency);
    let party = |tag: &str, (name, siren): &(String, Option<String>)| {
        let id = siren.as_ref().map_or(String::new(), |s| {
            format!("<cbc:CompanyID schemeID=\"0002\">{}</cbc:CompanyID>", x(s))
        });
        format!("<cac:{tag}><cac:Party><cac:PartyName><cbc:Name>{n}</cbc:Name></cac:PartyName><cac:PostalAddress><cac:Country><cbc:IdentificationCode>FR</cbc:IdentificationCode></cac:Country></cac:PostalAddress><cac:PartyLegalEntity><cbc:RegistrationName>{n}</cbc:RegistrationName>{id}</cac:PartyLegalEntity></cac:Party></cac:{tag}>", n = x(name))
    };
    let mut s = String::with_capacity(4096);
    s.push_str(&format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:{root}-2\" xmlns:cac=\"urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2\" xmlns:cbc=\"urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2\">"));
    s.push_str(&format!("<cbc:CustomizationID>urn:cen.eu:en16931:2017</cbc:CustomizationID><cbc:ID>{}</cbc:ID><cbc:IssueDate>{}</cbc:IssueDate>", x(&inv.number), inv.issue_date));
    if let (Some(due), false) = (inv.due_date, credit) {
        s.push_str(&format!("<cbc:DueDate>{due}</cbc:DueDate>"));
    }
    s.push_str(&format!(
        "<cbc:{tc}>{}</cbc:{tc}><cbc:DocumentCurrencyCode>{cur}</cbc:DocumentCurrencyCode>",
        inv.type_code
    ));
    if let Some(b) = &inv.buyer_reference {
        s.push_str(&format!(
            "<cbc:BuyerReference>{}</cbc:BuyerReference>",
            x(b)
        ));
    }
    if let Some(o) = &inv.order_reference {
        s.push_str(&format!(
            "<cac:OrderReference><cbc:ID>{}</cbc:ID></cac:OrderReference>",
            x(o)
        ));
    }
    s.push_str(&party("AccountingSupplierParty", &inv.seller));
    s.push_str(&party("AccountingCustomerParty", &inv.buyer));
    s.push_str(&format!("<cac:PaymentMeans><cbc:PaymentMeansCode>58</cbc:PaymentMeansCode><cbc:PaymentID>{}</cbc:PaymentID>", x(&inv.number)));
    if let Some(iban) = &inv.iban {
        s.push_str(&format!(
            "<cac:PayeeFinancialAccount><cbc:ID>{}</cbc:ID></cac:PayeeFinancialAccount>",
            x(iban)
        ));
    }
    s.push_str("</cac:PaymentMeans>");
    s.push_str(&format!(
        "<cac:TaxTotal><cbc:TaxAmount currencyID=\"{cur}\">{tva}</cbc:TaxAmount>"
    ));
    for (r, base, tax) in &rates {
        s.push_str(&format!("<cac:TaxSubtotal><cbc:TaxableAmount currencyID=\"{cur}\">{base}</cbc:TaxableAmount><cbc:TaxAmount currencyID=\"{cur}\">{tax}</cbc:TaxAmount><cac:TaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>{r}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:TaxCategory></cac:TaxSubtotal>"));
    }
    let ttc = ht + tva;
    s.push_str(&format!("</cac:TaxTotal><cac:LegalMonetaryTotal><cbc:LineExtensionAmount currencyID=\"{cur}\">{ht}</cbc:LineExtensionAmount><cbc:TaxExclusiveAmount currencyID=\"{cur}\">{ht}</cbc:TaxExclusiveAmount><cbc:TaxInclusiveAmount currencyID=\"{cur}\">{ttc}</cbc:TaxInclusiveAmount><cbc:PayableAmount currencyID=\"{cur}\">{ttc}</cbc:PayableAmount></cac:LegalMonetaryTotal>"));
    for (i, ((name, q, p, r), n)) in inv.lines.iter().zip(&nets).enumerate() {
        s.push_str(&format!("<cac:{line}><cbc:ID>{}</cbc:ID><cbc:{qty} unitCode=\"C62\">{q}</cbc:{qty}><cbc:LineExtensionAmount currencyID=\"{cur}\">{n}</cbc:LineExtensionAmount><cac:Item><cbc:Name>{}</cbc:Name><cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID><cbc:Percent>{r}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:ClassifiedTaxCategory></cac:Item><cac:Price><cbc:PriceAmount currencyID=\"{cur}\">{p}</cbc:PriceAmount></cac:Price></cac:{line}>", i + 1, x(name)));
    }
    s.push_str(&format!("</{root}>\n"));
    s
}

/// The `i`-th of a family of varied synthetic invoices (1 to 5 lines at 5.5 % or 20 % VAT, one
/// credit note in 20, buyer and order references on some, 2 000 distinct buyers), for
/// benchmarks and generated data.
pub fn sample(i: usize) -> SimpleInvoice {
    let lines = (0..1 + i % 5)
        .map(|l| {
            (
                format!("Article {l} de la commande {i}"),
                Decimal::from(1 + (i + l) % 7),
                Decimal::new(1999 + ((i * 37 + l * 11) % 50_000) as i64, 2),
                if l % 3 == 0 {
                    Decimal::new(55, 1)
                } else {
                    Decimal::from(20)
                },
            )
        })
        .collect();
    let month = 1 + (i % 12) as u32;
    SimpleInvoice {
        number: format!("FA-2026-{i:06}"),
        type_code: if i.is_multiple_of(20) { 381 } else { 380 },
        issue_date: NaiveDate::from_ymd_opt(2026, month, 1 + (i % 28) as u32).unwrap_or_default(),
        due_date: NaiveDate::from_ymd_opt(2026, month, 28),
        currency: "EUR".into(),
        seller: ("Atelier Lumière SAS".into(), Some("812345676".into())),
        buyer: (format!("Client numéro {} SARL", i % 2_000), None),
        buyer_reference: i.is_multiple_of(4).then(|| format!("SERVICE-{}", i % 97)),
        order_reference: i.is_multiple_of(3).then(|| format!("PO-{i}")),
        iban: Some("FR7630004000031234567890143".into()),
        lines,
    }
}

/// A minimal Factur-X PDF: `xml` embedded (compressed) as `factur-x.xml`, found through both the
/// `EmbeddedFiles` name tree and the catalog's `/AF` array, as the Factur-X reader looks for it.
pub fn facturx_pdf(xml: &[u8]) -> std::io::Result<Vec<u8>> {
    pdf(b"factur-x.xml", xml, true)
}

/// A minimal PDF with `bytes` attached, uncompressed, under the file name `name` (name tree and
/// `/AF`): for trying the reader on other attachment names or contents.
pub fn pdf_with_attachment(name: &str, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    pdf(name.as_bytes(), bytes, false)
}

fn pdf(name: &[u8], xml: &[u8], compress: bool) -> std::io::Result<Vec<u8>> {
    use lopdf::{dictionary, Document, Object, Stream, StringFormat};
    let mut doc = Document::with_version("1.7");
    let pages = doc.new_object_id();
    doc.objects.insert(
        pages,
        Object::Dictionary(
            dictionary! {"Type" => "Pages", "Kids" => Vec::<Object>::new(), "Count" => 0},
        ),
    );
    let mut stream = Stream::new(
        dictionary! {"Type" => "EmbeddedFile", "Subtype" => "text/xml"},
        xml.to_vec(),
    );
    if compress {
        // Left uncompressed when compression would not help: both are valid.
        let _ = stream.compress();
    }
    let file = doc.add_object(stream);
    let name = || Object::String(name.to_vec(), StringFormat::Literal);
    let spec = doc.add_object(dictionary! {
        "Type" => "Filespec", "F" => name(), "UF" => name(), "AFRelationship" => "Data",
        "EF" => dictionary! {"F" => file},
    });
    let catalog = doc.add_object(dictionary! {
        "Type" => "Catalog", "Pages" => pages, "AF" => vec![Object::Reference(spec)],
        "Names" => dictionary! {"EmbeddedFiles" => dictionary! {"Names" => vec![name(), Object::Reference(spec)]}},
    });
    doc.trailer.set("Root", catalog);
    let mut out = Vec::new();
    doc.save_to(&mut out)?;
    Ok(out)
}
