#!/usr/bin/env python3
"""Seeds the relance Tryton test database: a French company (account_fr chart), customers with
SIREN/SIRET/VAT identifiers, posted customer invoices and credit notes with payment terms,
bank statements paying some of them (fully or partly), a cancelled invoice and a four-level
dunning procedure with a dunning history.

Runs in-process with proteus (no server needed); tests/tryton/server.sh calls it as

    TRYTOND_CONFIG=.../trytond.conf venv/bin/python seed.py -d relance --today 2026-11-16

Deterministic for a given --today: random.Random(20261116) drives every choice and every seeded
date is relative to --today. Only what the server stamps itself (dunning processing date, fee
moves, create/write dates) follows the machine's clock.
"""
import argparse
import datetime as dt
import logging
import os
import random
import sys
import time
from decimal import Decimal

# Tasks queued by posting (the invoice report rendering, ~0.6 s per invoice) go to ir.queue
# instead of running at commit: nothing in the tests reads those reports.
os.environ.setdefault('TRYTOND_QUEUE__WORKER', 'True')

from dateutil.relativedelta import relativedelta  # noqa: E402

STARTED = time.monotonic()


def log(message):
    print(f"[seed {time.monotonic() - STARTED:6.1f}s] {message}", flush=True)


def with_luhn(digits):
    """digits followed by the Luhn check digit (SIREN and SIRET are Luhn numbers)."""
    for check in '0123456789':
        candidate = digits + check
        total = 0
        for pos, ch in enumerate(reversed(candidate)):
            value = int(ch) * (2 if pos % 2 else 1)
            total += value - 9 if value > 9 else value
        if total % 10 == 0:
            return candidate
    raise ValueError(digits)


def vat_key(siren):
    """French VAT number without the FR prefix (Tryton's fr_vat type stores it so)."""
    return f"{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


# name, street, postal code, city, payment term, behaviour, language, has SIREN
CUSTOMERS = [
    ("Boulangerie Martin SARL", "12 rue de la République", "69002", "Lyon",
        'net30', 'good', 'fr', True),
    ("Transports Lefèvre SAS", "4 allée des Peupliers", "59000", "Lille",
        'eom45', 'late', 'fr', True),
    ("Cabinet Dubois & Associés", "88 boulevard Haussmann", "75008", "Paris",
        'net30', 'good', 'fr', True),
    ("Garage Moreau", "3 route de Nantes", "44300", "Nantes",
        'cash', 'partial', 'fr', True),
    ("Hôtel du Port SAS", "1 quai Saint-Pierre", "13002", "Marseille",
        'split', 'late', 'fr', True),
    ("Librairie Fontaine", "25 rue Sainte-Catherine", "33000", "Bordeaux",
        'net30', 'partial', 'fr', True),
    ("BTP Rousseau SA", "Parc du Moulin, bâtiment C", "67100", "Strasbourg",
        'eom45', 'bad', 'fr', True),
    ("Pharmacie Girard", "7 place du Capitole", "31000", "Toulouse",
        'net30', 'good', 'fr', True),
    ("Clinique Vétérinaire Bernard", "150 avenue Jean Jaurès", "35000",
        "Rennes", 'net30', 'late', 'fr', True),
    ("Menuiserie Petit EURL", "Lieu-dit La Croix", "21000", "Dijon",
        'split', 'bad', 'fr', True),
    ("John Smith", "5 impasse des Lilas", "06000", "Nice",
        'net30', 'late', 'en', False),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('-d', '--database', required=True)
    parser.add_argument('--today', required=True, help="YYYY-MM-DD")
    parser.add_argument('--invoices', type=int, default=40)
    args = parser.parse_args()
    today = dt.date.fromisoformat(args.today)
    rng = random.Random(int(today.strftime('%Y%m%d')))

    from proteus import Model, Wizard
    from proteus import config as proteus_config
    logging.getLogger('trytond.sendmail').setLevel(logging.CRITICAL)
    config = proteus_config.set_trytond(args.database,
        config_file=os.environ.get('TRYTOND_CONFIG'))
    # invoices dated before their payment term's first date etc. raise warnings
    config.skip_warning = True
    Company = Model.get('company.company')
    if Company.find([]):
        sys.exit("already seeded (a company exists)")

    # -------------------------------------------------------------- company
    Country = Model.get('country.country')
    france = Country(name="France", code='FR', code3='FRA', code_numeric='250')
    france.save()
    Currency = Model.get('currency.currency')
    eur = Currency(name="Euro", code='EUR', symbol='€', numeric_code='978',
        rounding=Decimal('0.01'), digits=2)
    eur.save()
    Model.get('currency.currency.rate')(date=dt.date(2000, 1, 1),
        rate=Decimal(1), currency=eur).save()
    Lang = Model.get('ir.lang')
    langs = {code: Lang.find([('code', '=', code)])[0] for code in ('fr', 'en')}
    Party = Model.get('party.party')
    siren = with_luhn('79311405')
    me = Party(name="Ateliers Relance Démo SAS", lang=langs['fr'])
    addr, = me.addresses
    addr.street, addr.postal_code, addr.city = "9 rue Mercière", "69002", "Lyon"
    addr.country = france
    me.identifiers.new(type='fr_siren', code=siren)
    me.identifiers.new(type='fr_vat', code=vat_key(siren))
    me.save()
    wizard = Wizard('company.company.config')
    wizard.execute('company')
    wizard.form.party = me
    wizard.form.currency = eur
    wizard.form.timezone = 'Europe/Paris'
    wizard.execute('add')
    company, = Company.find([])
    User = Model.get('res.user')
    config._context = User.get_preferences(True, {})
    log(f"company {me.name} SIREN {siren}")

    # ---------------------------------------------------------------- chart
    Account = Model.get('account.account')
    template_id = Model.get('ir.model.data').get_id('account_fr', 'root',
        config.context)
    chart = Wizard('account.create_chart')
    chart.execute('account')
    chart.form.account_template = Model.get('account.account.template')(
        template_id)
    chart.form.company = company
    chart.execute('create_account')

    def account(code):
        found, = Account.find([('code', '=', code)])
        return found
    chart.form.account_receivable = account('4111')
    chart.form.account_payable = account('4011')
    chart.form.category_account_revenue = account('706')
    chart.form.category_account_expense = account('6071')
    chart.execute('create_properties')
    log("chart account_fr")

    # --------------------------------------------- fiscal years and periods
    FiscalYear = Model.get('account.fiscalyear')
    Strict = Model.get('ir.sequence.strict')
    SeqType = Model.get('ir.sequence.type')
    move_type, = SeqType.find([('name', '=', "Account Move")], limit=1)
    invoice_type, = SeqType.find([('name', '=', "Invoice")], limit=1)
    # the server stamps its own clock on dunning fees and processing: cover it too
    real_today = dt.date.today()
    first_year = (today - relativedelta(days=330)).year
    last_year = max(today, real_today).year + 1
    for year in range(first_year, last_year + 1):
        fy = FiscalYear(name=f"Exercice {year}", company=company,
            start_date=dt.date(year, 1, 1), end_date=dt.date(year, 12, 31))
        fy.move_sequence = Strict(name=f"Écritures {year}",
            sequence_type=move_type, company=company)
        fy.move_sequence.save()
        sequences = {}
        for key, prefix in (('out', 'FA'), ('credit', 'AV'), ('in', 'FF')):
            seq = Strict(name=f"{prefix} {year}", sequence_type=invoice_type,
                company=company, prefix=f'{prefix}{year}-', padding=5)
            seq.save()
            sequences[key] = seq
        line, = fy.invoice_sequences
        line.out_invoice_sequence = sequences['out']
        line.out_credit_note_sequence = sequences['credit']
        line.in_invoice_sequence = sequences['in']
        line.in_credit_note_sequence = sequences['in']
        fy.save()
        fy.click('create_period')
    log(f"fiscal years {first_year}-{last_year}")

    # ---------------------------------------------------- taxes and products
    Tax = Model.get('account.tax')
    vat_services, = Tax.find([
            ('name', '=', "T.V.A. Vente de services Taux Normal")])
    vat_goods, = Tax.find([('name', '=', "T.V.A. Vente de biens Taux Normal")])
    Category = Model.get('product.category')

    def category(name, revenue, tax):
        cat = Category(name=name, accounting=True,
            account_revenue=account(revenue), account_expense=account('6071'))
        if tax:
            cat.customer_taxes.append(Tax(tax.id))
        cat.save()
        return cat
    services = category("Services", '706', vat_services)
    goods = category("Marchandises", '7071', vat_goods)
    fees = category("Frais de recouvrement", '706', None)
    ModelData = Model.get('ir.model.data')
    Uom = Model.get('product.uom')
    uom = {k: Uom(ModelData.get_id('product', f'uom_{k}', config.context))
        for k in ('unit', 'day', 'hour')}
    Template = Model.get('product.template')
    price_of = {}

    def product(name, unit, price, cat, kind='service'):
        tpl = Template(name=name, default_uom=uom[unit], type=kind,
            list_price=Decimal(price), account_category=cat)
        tpl.save()
        prod, = tpl.products
        price_of[prod.id] = Decimal(price)
        return prod
    catalogue = [
        (product("Audit comptable (jour)", 'day', '900', services), 1, 5),
        (product("Développement (heure)", 'hour', '90', services), 3, 30),
        (product("Contrat de maintenance", 'unit', '1500', services), 1, 1),
        (product("Ordinateur portable", 'unit', '1190', goods, 'goods'), 1, 4),
        (product("Licence annuelle", 'unit', '240', goods, 'goods'), 1, 12),
        ]
    fee_product = product("Indemnité forfaitaire de recouvrement", 'unit',
        '40', fees)
    log("taxes, categories, products")

    # -------------------------------------------------------- payment terms
    Term = Model.get('account.invoice.payment_term')
    terms = {}
    term = Term(name="Comptant")
    term.lines.new(type='remainder')
    term.save()
    terms['cash'] = term
    term = Term(name="30 jours")
    term.lines.new(type='remainder').relativedeltas.new(days=30)
    term.save()
    terms['net30'] = term
    term = Term(name="45 jours fin de mois")
    remainder = term.lines.new(type='remainder')
    remainder.relativedeltas.new(days=45)
    remainder.relativedeltas.new(day=31)
    term.save()
    terms['eom45'] = term
    term = Term(name="Moitié à 30 jours, solde à 60 jours")
    half = term.lines.new(type='percent', ratio=Decimal('0.5'))
    half.relativedeltas[0].days = 30
    term.lines.new(type='remainder').relativedeltas.new(days=60)
    term.save()
    terms['split'] = term
    log("payment terms")

    # ------------------------------------------------------ dunning procedure
    Journal = Model.get('account.journal')
    misc, = Journal.find([('code', '=', 'MISC')])
    fee = Model.get('account.dunning.fee')(name="Indemnité 40 €",
        product=fee_product, journal=misc, compute_method='list_price')
    fee.save()
    procedure = Model.get('account.dunning.procedure')(
        name="Relances clients")
    for sequence, days, letter, with_fee in ((10, 7, True, False),
            (20, 21, True, False), (30, 45, True, True), (40, 75, False, False)):
        level = procedure.levels.new(sequence=sequence,
            overdue=dt.timedelta(days=days), print_on_letter=letter)
        if with_fee:
            level.fee = fee
    procedure.save()
    account_config = Model.get('account.configuration')(1)
    account_config.default_dunning_procedure = procedure
    account_config.save()
    log("dunning procedure (J+7, J+21, J+45 with fee, J+75)")

    # ------------------------------------------------------------ customers
    customers = []
    for n, (name, street, postal, city, term_key, behaviour, lang,
            has_siren) in enumerate(CUSTOMERS):
        party = Party(name=name, lang=langs[lang])
        addr, = party.addresses
        addr.street, addr.postal_code, addr.city = street, postal, city
        addr.country = france
        code = with_luhn(f'{rng.randrange(3 * 10**7, 10**8):08d}')
        if has_siren:
            party.identifiers.new(type='fr_siren', code=code)
            party.identifiers.new(type='fr_vat', code=vat_key(code))
        slug = ''.join(c for c in name.split()[0].lower() if c.isalnum())
        party.contact_mechanisms.new(type='email',
            value=f'comptabilite@{slug}.example')
        party.contact_mechanisms.new(type='phone',
            value=f'+33 4 {rng.randrange(10, 99)} {rng.randrange(10, 99)} '
            f'{rng.randrange(10, 99)} {rng.randrange(10, 99)}')
        party.customer_payment_term = terms[term_key]
        party.dunning_procedure = procedure
        party.save()
        if has_siren:
            party.identifiers.new(type='fr_siret',
                code=with_luhn(code + f'{n % 4 + 1:04d}'),
                address=party.addresses[0])
            party.save()
        customers.append((party, behaviour))
    log(f"{len(customers)} customers")

    # ------------------------------------------------------------- invoices
    Invoice = Model.get('account.invoice')
    InvoiceLine = Model.get('account.invoice.line')
    dates = sorted(today - dt.timedelta(days=rng.randrange(5, 245))
        for _ in range(args.invoices))
    invoices = []
    for n, date in enumerate(dates):
        party, behaviour = customers[rng.randrange(len(customers))]
        invoice = Invoice(type='out', party=party, invoice_date=date)
        invoice.reference = f"CMD-{date:%y%m}-{n + 1:03d}"
        invoice.description = f"Commande {invoice.reference}"
        for _ in range(rng.randrange(1, 4)):
            prod, low, high = catalogue[rng.randrange(len(catalogue))]
            line = InvoiceLine()
            invoice.lines.append(line)
            line.product = prod
            line.quantity = rng.randrange(low, high + 1)
            line.unit_price = price_of[prod.id]
        invoice.save()
        invoice.click('post')
        invoices.append((invoice, behaviour))
    # a few cash-on-receipt invoices three days old: due, but not yet dunned (the first
    # level comes at J+7), so write-back tests always find one to raise to level 1
    for k in range(6):
        party = customers[(3 * k + 1) % len(customers)][0]
        fresh = Invoice(type='out', party=party,
            invoice_date=today - dt.timedelta(days=3),
            payment_term=terms['cash'])
        fresh.reference = f"CMD-FRESH-{k + 1}"
        prod, low, _ = catalogue[k % len(catalogue)]
        line = InvoiceLine()
        fresh.lines.append(line)
        line.product = prod
        line.quantity = low
        line.unit_price = price_of[prod.id]
        fresh.save()
        fresh.click('post')
    log(f"{len(invoices)} + 6 invoices posted")

    # credit notes (negative invoices, numbered AV...) for two customers
    for party, _ in (customers[0], customers[5]):
        note = Invoice(type='out', party=party,
            invoice_date=today - dt.timedelta(days=12))
        note.reference = "Geste commercial"
        line = InvoiceLine()
        note.lines.append(line)
        prod, _, _ = catalogue[4]
        line.product = prod
        line.quantity = -1
        line.unit_price = price_of[prod.id]
        note.save()
        note.click('post')
    # an invoice prepared then abandoned: cancelled before posting, no number
    dropped = Invoice(type='out', party=customers[2][0],
        invoice_date=today - dt.timedelta(days=3))
    line = InvoiceLine()
    dropped.lines.append(line)
    line.product = catalogue[0][0]
    line.quantity = 1
    line.unit_price = price_of[catalogue[0][0].id]
    dropped.save()
    dropped.click('cancel')
    log("2 credit notes posted, 1 draft invoice cancelled")

    # ------------------------------------------------- bank statements
    StatementJournal = Model.get('account.statement.journal')
    Statement = Model.get('account.statement')
    StatementLine = Model.get('account.statement.line')
    sta, = Journal.find([('code', '=', 'STA')])
    bank = StatementJournal(name="Banque 5121", journal=sta,
        account=account('5121'), validation='balance', currency=eur)
    bank.save()
    receivable = account('4111')
    paid = []
    for invoice, behaviour in invoices:
        invoice.reload()
        due = min(l.maturity_date for l in invoice.lines_to_pay)
        draw = rng.random()
        if behaviour == 'good' or (behaviour == 'late' and draw < 0.5):
            delay = (rng.randrange(-5, 6) if behaviour == 'good'
                else rng.randrange(15, 50))
            paid.append((due + dt.timedelta(days=delay), invoice,
                invoice.total_amount))
        elif behaviour == 'partial' or (behaviour == 'late' and draw < 0.8):
            share = Decimal(rng.choice(['0.25', '0.4', '0.5']))
            paid.append((due + dt.timedelta(days=rng.randrange(0, 15)),
                invoice, (invoice.total_amount * share).quantize(
                    Decimal('0.01'))))
    paid = sorted((p for p in paid if p[0] < today),
        key=lambda p: (p[0], p[1].id))
    months = {}
    for item in paid:
        months.setdefault((item[0].year, item[0].month), []).append(item)
    balance = Decimal('20000.00')
    for (year, month), items in sorted(months.items()):
        statement = Statement(name=f"Relevé {year}-{month:02d}", journal=bank,
            date=min(dt.date(year, month, 1) + relativedelta(day=31),
                today - dt.timedelta(days=1)),
            start_balance=balance)
        for k, (date, invoice, amount) in enumerate(items):
            sl = StatementLine()
            statement.lines.append(sl)
            sl.number = f"{year}{month:02d}-{k + 1:03d}"
            sl.date = date
            sl.amount = amount
            sl.party = invoice.party
            sl.account = receivable
            sl.related_to = invoice
            sl.description = f"VIR {invoice.party.name[:24]} {invoice.number}"
            balance += amount
        statement.end_balance = balance
        statement.save()
        statement.click('validate_statement')
        statement.click('post')
    log(f"{len(months)} statements, {len(paid)} payments "
        f"({sum(1 for p in paid if p[2] != p[1].total_amount)} partial)")

    # -------------------------------------------------------- dunning history
    Dunning = Model.get('account.dunning')
    for days_before in (45, 21, 7, 0):
        run = Wizard('account.dunning.create')
        run.form.date = today - dt.timedelta(days=days_before)
        run.execute('create_')
        drafts = Dunning.find([('state', '=', 'draft')])
        if days_before and drafts:
            Wizard('account.dunning.process', drafts).execute('process')
    counts = {}
    for dunning in Dunning.find([]):
        key = f"{dunning.state}/{dunning.level.sequence}"
        counts[key] = counts.get(key, 0) + 1
    log("dunnings " + ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
    log("done")


if __name__ == '__main__':
    main()
