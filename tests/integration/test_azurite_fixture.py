"""The Azurite fixture hands out a working store."""

from azure.data.tables.aio import TableServiceClient

from emulators.azurite import Azurite


async def test_azurite_answers_table_requests(azurite: Azurite) -> None:
    async with TableServiceClient.from_connection_string(azurite.connection_string) as service:
        await service.create_table_if_not_exists("fixturecheck")
        names = [t.name async for t in service.list_tables()]
    assert "fixturecheck" in names
