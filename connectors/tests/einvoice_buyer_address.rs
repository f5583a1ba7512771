//! The buyer's postal address (BG-8: BT-50..BT-55) comes through to the customer, in CII
//! (`ram:BuyerTradeParty/ram:PostalTradeAddress`) and UBL
//! (`cac:AccountingCustomerParty/cac:Party/cac:PostalAddress`): the recipient of letters.
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

use relance_connectors::formats::einvoice::{parse, to_core};

const CII: &str = include_str!("fixtures/einvoice/buyer-address.cii.xml");
const UBL: &str = include_str!("fixtures/einvoice/buyer-address.ubl.xml");

fn buyer_address(name: &str, xml: &str) -> Option<relance_core::PostalAddress> {
    let parsed = parse(name, xml.as_bytes());
    let (_, customer) = to_core(&parsed.documents[0]);
    customer.address
}

#[test]
fn cii_buyer_address_is_mapped() {
    let a = buyer_address("a.xml", CII).unwrap();
    assert_eq!(a.lines, ["5 place du Marché", "Entrée B"]);
    assert_eq!(
        (
            a.postcode.as_deref(),
            a.city.as_deref(),
            a.country.as_deref()
        ),
        (Some("69004"), Some("Lyon"), Some("FR"))
    );
    assert!(a.is_postal());
    // A country alone is no address; a subdivision is kept.
    let bare = CII.replace(
        "<ram:PostcodeCode>69004</ram:PostcodeCode><ram:LineOne>5 place du Marché</ram:LineOne><ram:LineTwo>Entrée B</ram:LineTwo><ram:CityName>Lyon</ram:CityName>",
        "",
    );
    assert_ne!(bare, CII);
    assert_eq!(buyer_address("b.xml", &bare), None);
    let sub = CII.replace(
        "<ram:CountryID>FR</ram:CountryID></ram:PostalTradeAddress></ram:BuyerTradeParty>",
        "<ram:CountryID>FR</ram:CountryID><ram:CountrySubDivisionName>Rhône</ram:CountrySubDivisionName></ram:PostalTradeAddress></ram:BuyerTradeParty>",
    );
    assert_ne!(sub, CII);
    assert_eq!(
        buyer_address("c.xml", &sub).unwrap().subdivision.as_deref(),
        Some("Rhône")
    );
}

#[test]
fn ubl_buyer_address_is_mapped() {
    let xml = UBL.replace(
        "<cbc:PostalZone>47300</cbc:PostalZone>",
        "<cbc:PostalZone>47300</cbc:PostalZone><cac:AddressLine><cbc:Line>Service financier</cbc:Line></cac:AddressLine>",
    );
    assert_ne!(xml, UBL);
    let a = buyer_address("a.ubl.xml", &xml).unwrap();
    assert_eq!(
        a.lines,
        [
            "Hôtel de ville",
            "Boulevard de la République",
            "Service financier"
        ]
    );
    assert_eq!(
        (
            a.postcode.as_deref(),
            a.city.as_deref(),
            a.country.as_deref()
        ),
        (Some("47300"), Some("Villeneuve-sur-Lot"), Some("FR"))
    );
    assert_eq!(
        a.block("FR"),
        [
            "Hôtel de ville",
            "Boulevard de la République",
            "Service financier",
            "47300 VILLENEUVE-SUR-LOT"
        ]
    );
}
