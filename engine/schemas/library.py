"""The built-in schema library and sample texts (seed schemas first)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class User(BaseModel):
    name: str
    email: str
    twitter: str


class MeetingInfo(BaseModel):
    users: list[User]
    date: str
    location: str
    budget: int
    deadline: str


class UserProfile(BaseModel):
    name: str
    bio: str
    interests: list[str]


class Report(BaseModel):
    title: str
    summary: str
    conclusion: str = Field(description="The report's closing conclusion.")


# --- Everyday schemas ------------------------------------------------------------------------


class LineItem(BaseModel):
    description: str = Field(description="What was sold or done, as written on the invoice.")
    quantity: float = Field(description="How many units (hours, pieces, licences).")
    unit_price: float = Field(description="Price of one unit, without currency sign.")
    amount: float = Field(description="Line total: quantity times unit price.")


class Invoice(BaseModel):
    invoice_number: str = Field(description="The invoice's identifier, e.g. INV-2024-0117.")
    issue_date: str = Field(description="Date the invoice was issued, as written.")
    due_date: str = Field(description="Date payment is due, as written.")
    vendor: str = Field(description="Company that issued the invoice.")
    customer: str = Field(description="Company or person being billed.")
    line_items: list[LineItem] = Field(description="Every billed line, in order.")
    subtotal: float = Field(description="Sum of the line amounts before tax.")
    tax: float = Field(description="Total tax charged.")
    total: float = Field(description="Amount due, tax included.")
    currency: str = Field(description="Three-letter ISO currency code, e.g. EUR or USD.")


class SupportTicket(BaseModel):
    subject: str = Field(description="A short subject line for the ticket.")
    customer_name: str = Field(description="Who wrote in.")
    customer_email: str = Field(description="The customer's e-mail address.")
    priority: Literal["low", "medium", "high", "urgent"] = Field(
        description="How fast the team must react: urgent means the customer is blocked."
    )
    category: Literal["billing", "technical", "account", "shipping", "other"] = Field(
        description="Which team should handle the ticket."
    )
    summary: str = Field(description="One or two sentences saying what the problem is.")
    steps_to_reproduce: list[str] = Field(description="What the customer did, step by step.")


class JobPosting(BaseModel):
    title: str = Field(description="The job title.")
    company: str = Field(description="The hiring company.")
    location: str = Field(description="City and country, or 'Remote'.")
    employment_type: str = Field(description="Full-time, part-time, contract or internship.")
    salary_range: str = Field(description="Pay range as written, with currency and period.")
    responsibilities: list[str] = Field(description="What the person will do.")
    requirements: list[str] = Field(description="Skills and experience asked for.")
    apply_by: str = Field(description="Application deadline, as written.")


class Address(BaseModel):
    street: str = Field(description="Street and number.")
    city: str = Field(description="City or town.")
    postal_code: str = Field(description="Postal or ZIP code.")
    country: str = Field(description="Country name.")


class ContactCard(BaseModel):
    full_name: str = Field(description="First and last name.")
    job_title: str = Field(description="Role at the organization.")
    organization: str = Field(description="Company or institution.")
    email: str = Field(description="E-mail address.")
    phone: str = Field(description="Phone number with country code, as written.")
    address: Address = Field(description="Postal address.")
    website: str = Field(description="Web address, without tracking parameters.")


class Ingredient(BaseModel):
    name: str = Field(description="The ingredient.")
    quantity: str = Field(description="Amount as written, e.g. '200' or '1/2'.")
    unit: str = Field(description="Unit such as g, ml, tbsp; empty when counted in pieces.")


class Recipe(BaseModel):
    title: str = Field(description="The dish's name.")
    servings: int = Field(description="How many people it serves.")
    prep_minutes: int = Field(description="Preparation time in minutes.")
    cook_minutes: int = Field(description="Cooking time in minutes.")
    ingredients: list[Ingredient] = Field(description="Everything needed, in order of use.")
    steps: list[str] = Field(description="The method, one instruction per step.")


SCHEMAS: dict[str, type[BaseModel]] = {
    "MeetingInfo": MeetingInfo,
    "UserProfile": UserProfile,
    "Report": Report,
    "Invoice": Invoice,
    "SupportTicket": SupportTicket,
    "JobPosting": JobPosting,
    "ContactCard": ContactCard,
    "Recipe": Recipe,
}

MEETING_NOTE = """\
In our recent online meeting, participants from various backgrounds joined to discuss the \
upcoming tech conference. The names and contact details of the participants were as follows:

- Name: John Doe, Email: johndoe@email.com, Twitter: @TechGuru44
- Name: Jane Smith, Email: janesmith@email.com, Twitter: @DigitalDiva88
- Name: Alex Johnson, Email: alexj@email.com, Twitter: @CodeMaster2023

During the meeting, we agreed on several key points. The conference will be held on March \
15th, 2024, at the Grand Tech Arena located at 4521 Innovation Drive. Dr. Emily Johnson, a \
renowned AI researcher, will be our keynote speaker.

The budget for the event is set at $50,000, covering venue costs, speaker fees, and \
promotional activities. Each participant is expected to contribute an article to the \
conference blog by February 20th.

A follow-up meetingis scheduled for January 25th at 3 PM GMT to finalize the agenda and \
confirm the list of speakers.
"""

PROFILE_NOTE = """\
Alex Chen is a product designer based in Lisbon who spent eight years building accessible \
interfaces for banking apps before moving to a climate-tech start-up. Outside work Alex runs a \
small ceramics studio, volunteers as a mentor for first-generation design students, and has \
cycled from Porto to Seville twice. Friends know Alex for an encyclopaedic knowledge of \
Portuguese tile patterns, a weakness for specialty coffee, and weekend bouldering sessions.
"""

REPORT_NOTE = """\
Quarterly field report - Riverside community garden, Q2

Over April to June the garden grew from 38 to 52 active plot holders. Water use fell 18% after \
the drip-irrigation pilot on the east beds, even though June was the hottest month on record \
for the district. Two volunteer work days rebuilt the compost bays and cleared the blocked \
drainage channel by the tool shed. Vandalism remained low: one broken gate latch, repaired \
within a week. The waiting list still holds 27 households, mostly from the new flats on \
Mill Street.

Taken together, the drip pilot paid for itself in one season and should be extended to all \
beds before next summer; the committee should also look for a second site to shorten the \
waiting list.
"""

INVOICE_TEXT = """\
NORTHWIND DESIGN STUDIO GmbH
Kastanienallee 12, 10435 Berlin, Germany - VAT DE298765432

INVOICE INV-2024-0117
Issue date: 4 March 2024          Payment due: 3 April 2024

Bill to: Bluefin Logistics B.V., Wibautstraat 150, 1091 GR Amsterdam, Netherlands

Description                                   Qty     Unit price      Amount
Brand workshop (half day)                     1       1,200.00        1,200.00
Logo redesign, three concepts                 1       2,400.00        2,400.00
Icon set, 24 icons                            24      35.00           840.00
Design system consultation (hours)            6       95.00           570.00

Subtotal                                                              5,010.00
VAT 19%                                                                 951.90
TOTAL DUE (EUR)                                                       5,961.90

Please transfer the total to IBAN DE44 1001 0010 0123 4567 89 quoting the invoice number.
"""

SUPPORT_EMAIL = """\
From: Priya Raman <priya.raman@lumenfoods.co.uk>
Subject: Can't log in since this morning - whole team locked out!!

Hi support,

Since about 8:30 today none of the six people on our team can sign in to the dashboard. \
We are in the middle of our end-of-month stock count and this is blocking everything.

What happens:
1. Go to app.example-inventory.com and click "Sign in with Google".
2. Choose our company account (lumenfoods.co.uk).
3. The page spins for ~20 seconds and then shows "Error 502 - upstream unavailable".
4. Trying the e-mail/password login instead gives the same error.

We cleared cookies and tried Chrome, Firefox and Edge - no difference. Our subscription was \
renewed last week, so it shouldn't be a billing issue. Please call me on +44 20 7946 0321 if \
that's faster.

Thanks,
Priya Raman
Operations Manager, Lumen Foods
"""

JOB_AD = """\
We're hiring: Senior Data Engineer (Full-time) - Copperleaf Analytics

Location: Toronto, Canada (hybrid, 2 days a week in the office)
Salary: CAD 125,000 - 145,000 per year, plus equity and a $1,500 learning budget

Copperleaf helps municipal water utilities predict pipe failures before they happen. You will \
join a team of five engineers and own the pipelines that turn sensor readings into forecasts.

What you'll do
- Design and run batch and streaming pipelines on Kafka and Spark
- Model data in our Postgres and Snowflake warehouses
- Work with data scientists to ship forecasting features to production
- Mentor two junior engineers and review their code

What we're looking for
- 5+ years building production data pipelines
- Strong Python and SQL
- Experience with Airflow or Dagster
- Comfortable with infrastructure as code (Terraform)
- Bonus: time-series or IoT data experience

Apply by 30 September 2024 at careers.copperleaf.example/jobs/sde-114.
"""

EMAIL_SIGNATURE = """\
Thanks again for a great conversation at the Nordic Health Summit - I've attached the pilot \
proposal we discussed. Let's find a slot next week.

Best regards,

Dr. Ingrid Solberg
Head of Clinical Partnerships
Fjordline Medical AS
Dronning Eufemias gate 42, 0191 Oslo, Norway
Mobile: +47 912 34 567
ingrid.solberg@fjordline-medical.example
www.fjordline-medical.example/partners?utm_source=signature
"""

RECIPE_TEXT = """\
Weeknight lemon chickpea pasta (serves 4)

Ready in about 30 minutes: 10 minutes of prep, 20 minutes on the stove.

You'll need 350 g dried penne, 2 tbsp olive oil, 3 cloves of garlic (sliced), one 400 g tin \
of chickpeas (drained), 1 tsp chilli flakes, the zest and juice of 1 lemon, 100 g baby \
spinach, 60 g grated parmesan and salt to taste.

Bring a large pot of salted water to the boil and cook the penne until al dente. Meanwhile, \
warm the olive oil in a wide pan and fry the garlic and chilli flakes for one minute. Add the \
chickpeas and fry for 5 minutes until golden. Scoop out a mug of pasta water, then drain the \
pasta and tip it into the pan. Stir in the spinach, lemon zest and juice and half the \
parmesan, loosening with pasta water. Season with salt and serve with the rest of the \
parmesan on top.
"""

SAMPLES: dict[str, str] = {
    "Meeting note (seed)": MEETING_NOTE,
    "Designer profile": PROFILE_NOTE,
    "Community garden report": REPORT_NOTE,
    "Design studio invoice": INVOICE_TEXT,
    "Support e-mail": SUPPORT_EMAIL,
    "Job advert": JOB_AD,
    "E-mail signature": EMAIL_SIGNATURE,
    "Recipe": RECIPE_TEXT,
}

#: The sample text that suits each schema (the Extract page pairs them).
SAMPLE_FOR_SCHEMA: dict[str, str] = {
    "MeetingInfo": "Meeting note (seed)",
    "UserProfile": "Designer profile",
    "Report": "Community garden report",
    "Invoice": "Design studio invoice",
    "SupportTicket": "Support e-mail",
    "JobPosting": "Job advert",
    "ContactCard": "E-mail signature",
    "Recipe": "Recipe",
}
