"""The built-in schema library and sample texts (seed schemas first)."""

from __future__ import annotations

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


SCHEMAS: dict[str, type[BaseModel]] = {
    "MeetingInfo": MeetingInfo,
    "UserProfile": UserProfile,
    "Report": Report,
}

MEETING_NOTE = """\
In our recent online meeting, participants from various backgrounds joined to discuss the upcoming tech conference. The names and contact details of the participants were as follows:

- Name: John Doe, Email: johndoe@email.com, Twitter: @TechGuru44
- Name: Jane Smith, Email: janesmith@email.com, Twitter: @DigitalDiva88
- Name: Alex Johnson, Email: alexj@email.com, Twitter: @CodeMaster2023

During the meeting, we agreed on several key points. The conference will be held on March 15th, 2024, at the Grand Tech Arena located at 4521 Innovation Drive. Dr. Emily Johnson, a renowned AI researcher, will be our keynote speaker.

The budget for the event is set at $50,000, covering venue costs, speaker fees, and promotional activities. Each participant is expected to contribute an article to the conference blog by February 20th.

A follow-up meetingis scheduled for January 25th at 3 PM GMT to finalize the agenda and confirm the list of speakers.
"""

SAMPLES: dict[str, str] = {"Meeting note (seed)": MEETING_NOTE}
